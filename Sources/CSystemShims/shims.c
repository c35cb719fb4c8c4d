#include "CSystemShims.h"
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>

#include <signal.h>
#include <spawn.h>

const uint32_t CSYS_EPOLLIN = EPOLLIN;
const uint32_t CSYS_EPOLLOUT = EPOLLOUT;
const uint32_t CSYS_EPOLLERR = EPOLLERR;
const uint32_t CSYS_EPOLLHUP = EPOLLHUP;
const uint32_t CSYS_EPOLLRDHUP = EPOLLRDHUP;

int csys_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int csys_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int csys_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i] = evs[i].events;
        data[i] = evs[i].data.u64;
    }
    return n;
}

int csys_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int csys_eventfd_signal(int fd) {
    uint64_t one = 1;
    return (int)write(fd, &one, sizeof one);
}

int csys_eventfd_drain(int fd) {
    uint64_t value;
    return (int)read(fd, &value, sizeof value);
}

int csys_accept4(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int csys_relay_pipe(int fds[2], int size) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    if (size > 0) (void)fcntl(fds[0], F_SETPIPE_SZ, size);
    int capacity = fcntl(fds[0], F_GETPIPE_SZ);
    return capacity > 0 ? capacity : 65536;
}

ssize_t csys_splice(int in_fd, int out_fd, size_t count, int more) {
    unsigned int flags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0);
    return splice(in_fd, NULL, out_fd, NULL, count, flags);
}

ssize_t csys_splice_to_file(int pipe_fd, int file_fd, off_t *offset, size_t count) {
    loff_t position = *offset;
    ssize_t n = splice(pipe_fd, NULL, file_fd, &position, count, SPLICE_F_MOVE);
    if (n > 0) *offset = (off_t)position;
    return n;
}

ssize_t csys_sendfile(int out_fd, int in_fd, off_t *offset, size_t count) {
    return sendfile(out_fd, in_fd, offset, count);
}

ssize_t csys_send(int fd, const void *buf, size_t len, int more) {
    return send(fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

ssize_t csys_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen) {
    struct iovec iov[2];
    iov[0].iov_base = (void *)a; iov[0].iov_len = alen;
    iov[1].iov_base = (void *)b; iov[1].iov_len = blen;
    struct msghdr msg = {0};
    msg.msg_iov = iov;
    msg.msg_iovlen = blen ? 2 : 1;
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

int csys_open_beneath(int dirfd, const char *path) {
#ifdef SYS_openat2
    struct open_how how = {0};
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int csys_fallocate(int fd, off_t length) {
    return fallocate(fd, 0, 0, length);
}

int csys_open_tmpfile(const char *directory) {
    int fd = open(directory, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) return fd;
    // File systems without O_TMPFILE: a named file, unlinked at once.
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/.gateway-spool-XXXXXX", directory);
    if (n < 0 || (size_t)n >= sizeof path) { errno = ENAMETOOLONG; return -1; }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

int csys_malloc_trim(void) { return malloc_trim(0); }

int csys_spawn_with_fds(pid_t *pid, const char *path, char *const argv[], char *const envp[], const int *fds, int count) {
    // Copies above the target range first, so no dup2 overwrites a descriptor a later one reads.
    int copies[64];
    if (count < 0 || count > 64) return EINVAL;
    for (int i = 0; i < count; i++) {
        copies[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + count);
        if (copies[i] < 0) {
            int saved = errno;
            for (int j = 0; j < i; j++) close(copies[j]);
            return saved;
        }
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result == 0) {
        result = posix_spawnattr_init(&attributes);
        if (result == 0) {
            sigset_t none, all;
            sigemptyset(&none);
            sigfillset(&all);
            // dup2 clears FD_CLOEXEC on the target: these are the ones the successor keeps.
            for (int i = 0; i < count && result == 0; i++) result = posix_spawn_file_actions_adddup2(&actions, copies[i], 3 + i);
            if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3 + count);
            if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
            if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &all);
            if (result == 0) result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
            if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
            posix_spawnattr_destroy(&attributes);
        }
        posix_spawn_file_actions_destroy(&actions);
    }
    for (int i = 0; i < count; i++) close(copies[i]);
    return result;
}
