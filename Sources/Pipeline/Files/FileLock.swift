#if canImport(Glibc)
internal import Glibc
#endif

/// An exclusive flock(2) on a lock file, held until the last reference goes away (and by the
/// kernel only as long as the process lives, so a crash never leaves it held). Locks on the same
/// path conflict between processes and between two `FileLock`s of one process. The holder removes
/// the file when it lets go, so lock files do not pile up: a waiter that locked the file just
/// removed sees that the path no longer names it and tries again on a new one.
public final class FileLock: Sendable {
    private let descriptor: Int32
    private let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// The lock on `path` (created when missing) if nobody holds it now; nil when another holder
    /// has it or the file cannot be opened. Never blocks.
    public static func tryLock(_ path: String) -> FileLock? {
        for _ in 0..<3 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return nil }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                return nil
            }
            // Locked; but is it still the file at `path`? Its last holder may have removed it.
            var held = stat(), named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_dev == named.st_dev, held.st_ino == named.st_ino {
                return FileLock(descriptor: fd, path: path)
            }
            close(fd)
        }
        return nil
    }

    deinit {
        // Still held: the path names this file, and nobody else may remove it.
        unlink(path)
        close(descriptor)
    }
}
