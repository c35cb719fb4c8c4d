internal import CSystemShims
#if canImport(Glibc)
internal import Glibc
#endif

/// An open directory that every lookup stays beneath: paths are resolved by the kernel under the
/// root (openat2 RESOLVE_BENEATH), so `..`, absolute paths and symlinks that leave the root are all
/// refused, whatever form they arrive in. Kernels without openat2 get a realpath check instead.
///
/// `open` is one system call pair, quick enough for a request on a loop. Scans (`list`) read whole
/// folders and run on `BlockingPool.shared`; they never follow symlinks, so a tree with a link
/// loop or a link out of the root is scanned as if the links were not there.
public final class DirectoryHandle: Sendable {
    public let path: String
    let descriptor: Int32

    public enum Lookup: Sendable {
        case file(OpenFile)
        case directory
        case forbidden
        case missing
    }

    /// A handle on nothing: every lookup misses (for values built from a config with errors).
    public static let invalid = DirectoryHandle(invalid: ())

    /// Deeper folders are left out of recursive scans.
    static let maxDepth = 64

    private init(invalid: ()) {
        path = ""
        descriptor = -1
    }

    /// Opens the directory at `path`.
    public init(path: String) throws(SystemError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.errno("open \(path)") }
        self.path = path
        descriptor = fd
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Opens `relative` (no leading slash; `.` is the root) beneath the directory.
    public func open(_ relative: String) -> Lookup {
        var info = stat()
        return open(relative, status: &info)
    }

    /// `open`, with what fstat said of the file (for `OpenFileCache`, which checks it again later).
    func open(_ relative: String, status info: inout stat) -> Lookup {
        let fd = openBeneath(relative)
        guard fd >= 0 else {
            return errno == EACCES ? .forbidden : .missing
        }
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return .missing
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            close(fd)
            return .directory
        case S_IFREG:
            return .file(OpenFile(descriptor: fd, size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec)))
        default:
            close(fd)
            return .forbidden
        }
    }

    /// What `relative` is (symlinks beneath the root followed); nil when it is missing or outside.
    public func status(_ relative: String) -> FileStatus? {
        let fd = openBeneath(relative)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return FileStatus(info)
    }

    /// The files and folders in the folder `relative` (`.` for the root), sorted by path, off the
    /// event loops; with `recursive`, everything beneath it too, with paths relative to it. Nil when
    /// it is not a folder beneath the root. Symlinks, sockets and devices are left out.
    public func list(_ relative: String, recursive: Bool = false) async throws -> [DirectoryEntry]? {
        try await BlockingPool.shared.run { self.entries(relative, recursive: recursive) }
    }

    /// `list` on the calling thread: for callers already on the pool.
    public func entries(_ relative: String, recursive: Bool) -> [DirectoryEntry]? {
        let fd = openBeneath(relative)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            close(fd)
            return nil
        }
        var result: [DirectoryEntry] = []
        Self.scan(fd, prefix: "", recursive: recursive, depth: 0, into: &result)
        return result.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    }

    /// Reads the folder open at `fd` (and closes it), adding its entries under `prefix`.
    private static func scan(_ fd: Int32, prefix: String, recursive: Bool, depth: Int, into result: inout [DirectoryEntry]) {
        guard let dir = fdopendir(fd) else {
            close(fd)
            return
        }
        defer { closedir(dir) }
        let folder = dirfd(dir)
        while let entry = readdir(dir) {
            let name = Self.name(of: entry)
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(folder, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let status = FileStatus(info)
            guard status.kind != .other else { continue }
            let path = prefix + name
            result.append(DirectoryEntry(path: path, status: status))
            if recursive, status.kind == .directory, depth < maxDepth {
                // Relative to the folder already beneath the root, and never through a symlink.
                let child = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { scan(child, prefix: path + "/", recursive: true, depth: depth + 1, into: &result) }
            }
        }
    }

    static func name(of entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private func openBeneath(_ relative: String) -> Int32 {
        guard descriptor >= 0 else {
            errno = ENOENT
            return -1
        }
        let target = relative.isEmpty ? "." : relative
        let fd = csys_open_beneath(descriptor, target)
        if fd < 0, errno == ENOSYS { return openChecked(target) }
        return fd
    }

    /// For kernels without openat2: open, then make sure the real path is still beneath the root.
    private func openChecked(_ relative: String) -> Int32 {
        let full = path + "/" + relative
        guard let resolvedRoot = realpath(path, nil) else { return -1 }
        defer { free(resolvedRoot) }
        guard let resolved = realpath(full, nil) else { return -1 }
        defer { free(resolved) }
        let rootText = String(cString: resolvedRoot), text = String(cString: resolved)
        guard text == rootText || text.hasPrefix(rootText.hasSuffix("/") ? rootText : rootText + "/") else {
            errno = ENOENT
            return -1
        }
        return Glibc.open(text, O_RDONLY | O_CLOEXEC)
    }
}

/// One file or folder found by `DirectoryHandle.list`.
public struct DirectoryEntry: Sendable, Hashable {
    /// Relative to the folder that was listed, `/`-separated.
    public let path: String
    public let status: FileStatus

    public init(path: String, status: FileStatus) {
        self.path = path
        self.status = status
    }

    /// The last component of `path`.
    public var name: Substring { path[(path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex)...] }
    public var isDirectory: Bool { status.kind == .directory }
}
