#ifndef CSPAWN_H
#define CSPAWN_H

#include <sys/types.h>

/// Starts `path` with posix_spawn: `in`, `out` and `err` become the child's 0, 1 and 2, every
/// other descriptor is closed in the child (so a child never holds a copy of another child's pipe
/// or of a test's socket), the signal mask is emptied and every signal set to its default, and
/// the child starts in `dir` when it is not NULL. Returns 0 or an errno value.
int cspawn_start(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *dir,
                 int in, int out, int err);

/// pipe2(fds, O_CLOEXEC): a pipe no other child inherits.
int cspawn_pipe(int fds[2]);

#endif
