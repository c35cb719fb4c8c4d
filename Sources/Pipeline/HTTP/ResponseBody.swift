#if canImport(Glibc)
import Glibc
#endif

/// Receives a streamed response body. `write` suspends while the peer is slow, which is the
/// backpressure every producer sees: a proxy stops reading its upstream until the client catches up.
public protocol ResponseBodyWriter: Sendable {
    func write(_ chunk: [UInt8]) async throws
    /// Writes part of an open file; the HTTP/1.1 codec uses sendfile on plain sockets.
    func write(file region: FileRegion) async throws
    /// Sends trailer fields after the last chunk (on HTTP/2 a HEADERS frame that ends the stream).
    /// Call it at most once, after the last `write`; codecs that cannot carry trailers drop them.
    func writeTrailers(_ trailers: HTTPFields) async throws
}

extension ResponseBodyWriter {
    /// Reads the file in 64 KiB chunks and writes them: the path every writer without sendfile takes.
    public func write(file region: FileRegion) async throws {
        var offset = region.offset
        let end = region.offset + region.length
        while offset < end {
            let chunk = try region.file.read(at: offset, count: Int(min(65536, end - offset)))
            if chunk.isEmpty { throw HTTPError(.internalServerError, "file shrank while it was sent") }
            try await write(chunk)
            offset += Int64(chunk.count)
        }
    }

    /// Drops the trailers: the default for codecs and writers that have no place for them.
    public func writeTrailers(_ trailers: HTTPFields) async throws {}
}

/// A file opened for reading, closed when the last reference goes away.
public final class OpenFile: Sendable {
    public let descriptor: Int32
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
}

/// A response body: empty, bytes in memory, a file region, or a stream written through a writer.
///
/// ```swift
/// ResponseBody(length: size) { writer in
///     for try await chunk in upstream.body { try await writer.write(chunk) }
/// }
/// ```
/// A stream that throws aborts the response: the client sees a truncated body, never a clean end.
public struct ResponseBody: Sendable {
    public enum Content: Sendable {
        case empty
        case bytes([UInt8])
        case file(FileRegion)
        case stream(@Sendable (any ResponseBodyWriter) async throws -> Void)
    }

    public var content: Content
    /// The number of bytes the body will have, when known: it becomes Content-Length.
    public var length: Int?

    public static let empty = ResponseBody(content: .empty, length: 0)

    public init(content: Content, length: Int?) {
        self.content = content
        self.length = length
    }

    public init(bytes: [UInt8]) { self.init(content: .bytes(bytes), length: bytes.count) }
    public init(string: String) { self.init(bytes: Array(string.utf8)) }
    public init(file region: FileRegion) { self.init(content: .file(region), length: Int(region.length)) }

    public init(length: Int? = nil, _ write: @escaping @Sendable (any ResponseBodyWriter) async throws -> Void) {
        self.init(content: .stream(write), length: length)
    }

    /// A body that forwards every chunk of an async sequence.
    public init<S: AsyncSequence & Sendable>(length: Int? = nil, sequence: S) where S.Element == [UInt8] {
        self.init(length: length) { writer in
            for try await chunk in sequence { try await writer.write(chunk) }
        }
    }

    /// Writes the whole body into `writer`.
    public func write(to writer: any ResponseBodyWriter) async throws {
        switch content {
        case .empty: return
        case .bytes(let bytes): if !bytes.isEmpty { try await writer.write(bytes) }
        case .file(let region): try await writer.write(file: region)
        case .stream(let produce): try await produce(writer)
        }
    }

    /// Collects the body, failing once it passes `limit` bytes. For capped metadata only.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        if case .bytes(let bytes) = content, bytes.count <= limit { return bytes }
        let collector = Collector(limit: limit)
        try await write(to: collector)
        return collector.bytes
    }
}

/// Gathers written chunks up to a limit.
final class Collector: ResponseBodyWriter, @unchecked Sendable {
    // Written by the one task that writes the body.
    let limit: Int
    var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func write(_ chunk: [UInt8]) async throws {
        guard bytes.count + chunk.count <= limit else { throw BodyTooLarge(limit: limit) }
        bytes += chunk
    }
}

/// A body passed the size a caller was willing to hold in memory.
public struct BodyTooLarge: Error, CustomStringConvertible {
    public let limit: Int
    public var description: String { "body larger than \(limit) bytes" }
}
