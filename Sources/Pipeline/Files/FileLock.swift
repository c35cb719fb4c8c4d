#if canImport(Glibc)
internal import Glibc
#endif

/// An exclusive flock(2) on a lock file, held until the last reference goes away
/// (and by the kernel only as long as the process lives, so a crash never leaves it held). Locks
/// on the same file conflict between processes and between two `FileLock`s of one process.
public final class FileLock: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// The lock on `path` (created when missing) if nobody holds it now; nil when another holder
    /// has it or the file cannot be opened. Never blocks.
    public static func tryLock(_ path: String) -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return FileLock(descriptor: fd)
    }

    /// Whether someone holds the lock on `path` now (a missing file: nobody). Never blocks.
    public static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return true }
        flock(fd, LOCK_UN)
        return false
    }

    deinit { close(descriptor) }
}
