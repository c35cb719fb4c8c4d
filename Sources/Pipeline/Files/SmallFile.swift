#if canImport(Glibc)
internal import Glibc
#endif

/// A small file read whole (a pipeline file, a PEM file), or why it cannot be, in words a person
/// can act on: `No such file or directory`, `is a directory`, `larger than 1 MiB`.
public enum SmallFile {
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let description: String
        /// The path names a directory (callers may point at a file inside it).
        public let isDirectory: Bool

        init(_ description: String, isDirectory: Bool = false) {
            self.description = description
            self.isDirectory = isDirectory
        }
    }

    /// The bytes of the regular file at `path`, at most `limit` of them.
    public static func read(_ path: String, limit: Int) -> Result<[UInt8], Problem> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Problem(String(cString: strerror(errno)))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = errno
            close(fd)
            return .failure(Problem(String(cString: strerror(error))))
        }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG, info.st_size <= limit else {
            close(fd)
            if type == S_IFDIR { return .failure(Problem("is a directory", isDirectory: true)) }
            if type != S_IFREG { return .failure(Problem("is not a regular file")) }
            return .failure(Problem("larger than \(limit >> 20) MiB"))
        }
        // OpenFile owns the descriptor from here and closes it.
        let file = OpenFile(descriptor: fd, size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec))
        do {
            return .success(try file.read(at: 0, count: Int(info.st_size)))
        } catch {
            return .failure(Problem("\(error)"))
        }
    }
}
