#ifndef CSYSTEMSHIMS_H
#define CSYSTEMSHIMS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/// Glibc as imported by Swift does not expose these without _GNU_SOURCE (proxy.md §3.3).
int csys_epoll_create(void);
int csys_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits and copies (events, data) pairs into the two arrays; returns the count or -1.
int csys_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms);
int csys_eventfd(void);
int csys_eventfd_signal(int fd);
int csys_eventfd_drain(int fd);
int csys_accept4(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t csys_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
/// Sends with MSG_NOSIGNAL (and MSG_MORE when `more` is non-zero).
ssize_t csys_send(int fd, const void *buf, size_t len, int more);
ssize_t csys_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen);

/// Opens `path` relative to `dirfd` without ever leaving it: "..", absolute paths and symlinks
/// that point outside fail with EXDEV (openat2 RESOLVE_BENEATH, Linux 5.6+). Returns -1 with
/// errno ENOSYS on older kernels.
int csys_open_beneath(int dirfd, const char *path);

/// Allocates the first `length` bytes of a file's blocks (fallocate(2) mode 0). Fails with
/// EOPNOTSUPP where the file system cannot, instead of writing zeros as posix_fallocate would.
int csys_fallocate(int fd, off_t length);

/// Opens an anonymous temporary file in `directory` for reading and writing (O_TMPFILE, or a
/// file made by mkostemp and unlinked at once where the file system lacks O_TMPFILE), close-on-exec.
int csys_open_tmpfile(const char *directory);

/// A non-blocking, close-on-exec pipe for splice(2) relays, its capacity raised to `size` bytes
/// where the system allows (F_SETPIPE_SZ). Returns the capacity it has, or -1 with errno.
int csys_relay_pipe(int fds[2], int size);
/// splice(2) between a socket and a pipe, without waiting on the pipe (SPLICE_F_NONBLOCK,
/// SPLICE_F_MOVE, and SPLICE_F_MORE when `more` is non-zero). The socket must be non-blocking too.
ssize_t csys_splice(int in_fd, int out_fd, size_t count, int more);
/// splice(2) from a pipe into a regular file at `*offset` (advanced by what was written).
ssize_t csys_splice_to_file(int pipe_fd, int file_fd, off_t *offset, size_t count);

extern const uint32_t CSYS_EPOLLIN;
extern const uint32_t CSYS_EPOLLOUT;
extern const uint32_t CSYS_EPOLLERR;
extern const uint32_t CSYS_EPOLLHUP;
extern const uint32_t CSYS_EPOLLRDHUP;

/// malloc_trim(0): give free heap pages back to the system (glibc).
int csys_malloc_trim(void);

/// Starts `path` with `argv` and `envp`, the descriptors `fds` (count of them) as 3, 4, ... in the
/// child, stdin/stdout/stderr inherited, every other descriptor closed, signals unblocked and at
/// their defaults (a process handover: the successor inherits the listening sockets). Returns 0 or
/// an errno value.
int csys_spawn_with_fds(pid_t *pid, const char *path, char *const argv[], char *const envp[], const int *fds, int count);

#endif
