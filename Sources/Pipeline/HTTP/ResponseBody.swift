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

    public init(limit: Int) { self.limit = limit }
    public var description: String { "body larger than \(limit) bytes" }
}
