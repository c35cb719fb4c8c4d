#if canImport(Glibc)
internal import Glibc
#endif

/// The file system calls that middlewares with state on disk need (the cache's disk tier, spools),
/// as Swift functions, so no middleware touches libc. Paths here are the gateway's own (a configured
/// directory), never a client's: client paths go through `DirectoryHandle`, which stays beneath its root.
/// Every call blocks; scans and anything on many files run on `BlockingPool.shared`.
public enum FileSystem {
    /// `$TMPDIR`, or `/tmp`.
    public static var temporaryDirectory: String {
        guard let value = getenv("TMPDIR"), value.pointee != 0 else { return "/tmp" }
        return String(cString: value)
    }

    /// Creates the directory (mode 0700) unless it exists, then checks that it is a directory this
    /// process may write in.
    public static func makeDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw SystemError.errno("mkdir \(path)") }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw SystemError(call: "mkdir \(path)", code: ENOTDIR) }
        guard access(path, W_OK | X_OK) == 0 else { throw SystemError.errno("access \(path)") }
    }

    /// Renames `path` to `target`, replacing what is there (atomic on one file system).
    public static func rename(_ path: String, to target: String) throws(SystemError) {
        guard Glibc.rename(path, target) == 0 else { throw SystemError.errno("rename") }
    }

    /// Removes the name `path` (readers that opened the file keep reading it). False when it failed.
    @discardableResult
    public static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    /// The names in a directory, without `.` and `..`; empty when it cannot be read.
    public static func names(in path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = DirectoryHandle.name(of: entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `bytes` to `path` (replacing what is there; a symlink at `path` is refused) with
    /// permission bits `mode` from the moment the file exists, so a secret is never readable by
    /// others, not even while it is written, and not when it replaces a file with wider bits.
    public static func writeFile(_ path: String, _ bytes: [UInt8], mode: UInt32) throws(SystemError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        guard fd >= 0 else { throw SystemError.errno("open \(path)") }
        defer { close(fd) }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw SystemError.errno("chmod \(path)") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError.errno("write \(path)")
            }
            written += count
        }
    }

    /// What `path` is (symlinks followed), or nil when it does not exist or cannot be seen.
    public static func status(_ path: String) -> FileStatus? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStatus(info)
    }
}

/// What a directory entry is: its kind, size and modification time.
public struct FileStatus: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case file
        case directory
        /// A symlink (when not followed), socket, device or pipe.
        case other
    }

    public let kind: Kind
    public let size: Int64
    /// Seconds since 1970.
    public let modified: Int64
    /// Any execute bit is set.
    public let executable: Bool

    public init(kind: Kind, size: Int64, modified: Int64, executable: Bool = false) {
        self.kind = kind
        self.size = size
        self.modified = modified
        self.executable = executable
    }

    init(_ info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        default: kind = .other
        }
        size = kind == .file ? Int64(info.st_size) : 0
        modified = Int64(info.st_mtim.tv_sec)
        executable = info.st_mode & 0o111 != 0
    }
}
