internal import CSystemShims
#if canImport(Glibc)
internal import Glibc
#endif

/// An open regular file, closed when the last reference goes away. Most are opened for reading
/// (`init(path:)`, `DirectoryHandle.open`); `create` and `temporary` open one for writing too.
/// Reads and writes are plain blocking calls: on a loop only for page-cache-sized work, anything
/// that may take a while (a whole file, fsync) runs on `BlockingPool.shared`.
public final class OpenFile: Sendable {
    public let descriptor: Int32
    /// The size when the file was opened.
    public let size: Int64
    /// Last modification, seconds since 1970.
    public let modified: Int64

    /// Opens a regular file; nil when it does not exist, is not a regular file, or cannot be read.
    public convenience init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.init(descriptor: fd)
    }

    /// Takes ownership of an open descriptor; nil (and closed) unless it is a regular file.
    public init?(descriptor fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        descriptor = fd
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec)
    }

    /// Takes ownership of a descriptor the caller has already checked (fstat) to be a regular file.
    public init(descriptor fd: Int32, size: Int64, modified: Int64) {
        descriptor = fd
        self.size = size
        self.modified = modified
    }

    deinit { close(descriptor) }

    /// Creates `path` (which must not exist) for reading and writing, readable by the owner only.
    public static func create(path: String) throws(SystemError) -> OpenFile {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno("open \(path)") }
        return OpenFile(descriptor: fd, size: 0, modified: Int64(time(nil)))
    }

    /// A new anonymous file in `directory` (it has no name, so it vanishes with its last
    /// reference, even after a crash), for reading and writing.
    public static func temporary(in directory: String = FileSystem.temporaryDirectory) throws(SystemError) -> OpenFile {
        let fd = csys_open_tmpfile(directory)
        guard fd >= 0 else { throw SystemError.errno("temporary file in \(directory)") }
        return OpenFile(descriptor: fd, size: 0, modified: Int64(time(nil)))
    }

    /// Reads up to `count` bytes at `offset` (fewer only at the end of the file).
    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = result.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.errno("pread")
            }
            if n == 0 { break }
            filled += n
        }
        result.removeLast(count - filled)
        return result
    }

    /// Reads into `buffer` from `offset` until it is full or the file ends; the count read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + filled, buffer.count - filled, off_t(offset) + off_t(filled))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.errno("pread")
            }
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// SHA-256 of the whole file, read in 1 MiB pieces. Blocking: call it on the pool.
    public func sha256() throws -> [UInt8] {
        let hasher = SHA256Hasher()
        var offset: Int64 = 0
        while offset < size {
            let piece = try read(at: offset, count: Int(min(1 << 20, size - offset)))
            if piece.isEmpty { break }
            hasher.update(piece)
            offset += Int64(piece.count)
        }
        return hasher.finalize()
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError.errno("pwrite")
            }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int64) throws(SystemError) {
        let failure = bytes.withUnsafeBytes { raw -> SystemError? in
            do throws(SystemError) {
                try write(raw, at: offset)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Flushes the file's data and metadata to the disk (fsync). Blocking: call it on the pool.
    public func sync() throws(SystemError) {
        guard fsync(descriptor) == 0 else { throw SystemError.errno("fsync") }
    }

    /// Allocates the blocks of the first `length` bytes now (fallocate mode 0), so a file written
    /// piece by piece is not allocated page by page. False where the file system cannot.
    @discardableResult
    public func preallocate(_ length: Int64) -> Bool {
        length > 0 && csys_fallocate(descriptor, off_t(length)) == 0
    }

    /// A second handle on the same file, with its size as it is now (after writes).
    public func reopened() throws(SystemError) -> OpenFile {
        let fd = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError.errno("dup") }
        guard let file = OpenFile(descriptor: fd) else { throw SystemError.errno("fstat") }
        return file
    }

    /// The region from `offset` for `length` bytes (the whole file by default).
    public func region(offset: Int64 = 0, length: Int64? = nil) -> FileRegion {
        FileRegion(file: self, offset: offset, length: length ?? (size - offset))
    }
}

/// A byte range of an open file.
public struct FileRegion: Sendable {
    public let file: OpenFile
    public let offset: Int64
    public let length: Int64

    public init(file: OpenFile, offset: Int64, length: Int64) {
        self.file = file
        self.offset = offset
        self.length = length
    }
}
