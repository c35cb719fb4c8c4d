/// Where a streamed request body comes from: the HTTP/1.1 or HTTP/2 codec, or a test.
/// Pulling is what opens the flow: the codec reads the socket (or opens the HTTP/2 window)
/// only when `next()` is called, so a slow consumer slows the sender.
public protocol BodySource: AnyObject, Sendable {
    /// The next chunk, or nil at the end of the body.
    func next() async throws -> [UInt8]?
}

/// A body arriving from a peer (a client's request body on the server, an upstream's response body
/// on the client): an async sequence of byte chunks, read once.
///
/// ```swift
/// for try await chunk in request.body { try await upload.write(chunk) }
/// let small = try await request.body.collect(upTo: 64 * 1024)   // capped metadata only
/// ```
public struct IncomingBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    enum Storage: Sendable {
        case empty
        case bytes([UInt8])
        case source(any BodySource)
    }

    let storage: Storage
    /// The declared length (Content-Length), when the sender gave one.
    public let length: Int?

    public static let empty = IncomingBody(storage: .empty, length: 0)

    init(storage: Storage, length: Int?) {
        self.storage = storage
        self.length = length
    }

    public init(bytes: [UInt8]) { self.init(storage: bytes.isEmpty ? .empty : .bytes(bytes), length: bytes.count) }
    public init(string: String) { self.init(bytes: Array(string.utf8)) }
    public init(source: any BodySource, length: Int?) { self.init(storage: .source(source), length: length) }

    /// Whether the body is known to be empty.
    public var isEmpty: Bool {
        if case .empty = storage { return true }
        return length == 0
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var storage: Storage

        public mutating func next() async throws -> [UInt8]? {
            switch storage {
            case .empty:
                return nil
            case .bytes(let bytes):
                storage = .empty
                return bytes
            case .source(let source):
                return try await source.next()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(storage: storage) }

    /// Writes the whole body into `writer`: what a proxy does with an upstream's response body.
    /// An upstream body on a plain socket going to an HTTP/1.1 client on a plain socket moves
    /// socket → pipe → socket with splice(2), never through user space, and one going into a file
    /// (a cache's disk fill, `FileSpliceTarget`) moves socket → pipe → file; anything else (TLS on
    /// either side, chunked framing, HTTP/2, a writer that changes the bytes) is copied
    /// chunk by chunk. Either way the writer's backpressure holds and a body cut short fails.
    public func relay(to writer: any ResponseBodyWriter) async throws {
        if case .source(let source) = storage, let reader = source as? ClientBodyReader {
            if let target = writer as? HTTP1ResponseWriter, try await reader.splice(to: target) { return }
            if let target = writer as? any FileSpliceTarget, try await reader.splice(toFile: target) { return }
        }
        RelayCounters.shared.copies.add(1, ordering: .relaxed)
        for try await chunk in self {
            RelayCounters.shared.copiedBytes.add(chunk.count, ordering: .relaxed)
            try await writer.write(chunk)
        }
    }

    /// Collects the whole body, refusing with 413 once it passes `limit` bytes.
    /// Only for small metadata bodies: everything else streams.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        if let length, length > limit { throw HTTPError(.contentTooLarge, "request body too large") }
        var result: [UInt8] = []
        for try await chunk in self {
            guard result.count + chunk.count <= limit else { throw HTTPError(.contentTooLarge, "request body too large") }
            result += chunk
        }
        return result
    }

    /// The same body, refusing with 413 once more than `limit` bytes arrive.
    public func limited(to limit: Int) -> IncomingBody {
        switch storage {
        case .empty: return self
        case .bytes(let bytes):
            return bytes.count <= limit ? self : IncomingBody(source: FailingSource(HTTPError(.contentTooLarge, "request body too large")), length: length)
        case .source(let source):
            return IncomingBody(source: LimitedSource(source, limit: limit), length: length)
        }
    }
}

private final class LimitedSource: BodySource, @unchecked Sendable {
    // Read by the one task that consumes the body; a body is never read concurrently.
    private let base: any BodySource
    private let limit: Int
    private var seen = 0

    init(_ base: any BodySource, limit: Int) {
        self.base = base
        self.limit = limit
    }

    func next() async throws -> [UInt8]? {
        guard let chunk = try await base.next() else { return nil }
        seen += chunk.count
        if seen > limit { throw HTTPError(.contentTooLarge, "request body too large") }
        return chunk
    }
}

private final class FailingSource: BodySource {
    let error: HTTPError
    init(_ error: HTTPError) { self.error = error }
    func next() async throws -> [UInt8]? { throw error }
}

/// A writer that keeps a body in a file of its own (a cache's disk fill): `IncomingBody.relay`
/// may splice an upstream's bytes from a plain socket straight into that file.
public protocol FileSpliceTarget: ResponseBodyWriter {
    /// The file and offset where the next `count` bytes may be written, or nil when they may not
    /// all go there (the copy path then writes them through `write`).
    func spliceFile(for count: Int) -> (file: OpenFile, offset: Int64)?
    /// Publishes `count` more bytes written into the file right after the previous ones.
    func didSpliceFile(_ count: Int)
}
