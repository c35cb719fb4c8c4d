/// Reads one request body from its connection as the handler pulls it: Content-Length or chunked,
/// sending `100 Continue` on the first pull when the client asked for it (RFC 9110 §10.1.1).
/// Pulling is the backpressure: nothing is read from the socket until the handler wants more.
final class HTTP1BodyReader: BodySource, @unchecked Sendable {
    // Loop-confined: `next()` hops onto the connection's loop when called from elsewhere.
    private unowned let connection: HTTP1Connection
    private var remaining: Int
    private var decoder: ChunkedDecoder?
    private var expectsContinue: Bool
    private(set) var isComplete = false
    private var failed = false
    static let chunkSize = 64 * 1024
    static let drainLimit = 64 * 1024

    init(connection: HTTP1Connection, framing: BodyFraming, expectsContinue: Bool) {
        self.connection = connection
        self.expectsContinue = expectsContinue
        switch framing {
        case .contentLength(let length):
            remaining = length
        case .chunked:
            remaining = -1
            decoder = ChunkedDecoder()
        case .none:
            remaining = 0
            isComplete = true
        }
    }

    /// Whether what is left can be read and dropped without waiting on a client that was never told to send.
    var canDrainCheaply: Bool {
        if failed || expectsContinue { return false }
        return decoder == nil ? remaining <= Self.drainLimit : true
    }

    func next() async throws -> [UInt8]? {
        let loop = connection.loop
        if loop.inLoop { return try await nextOnLoop() }
        return try await withTaskExecutorPreference(loop) { try await self.nextOnLoop() }
    }

    private func nextOnLoop() async throws -> [UInt8]? {
        if isComplete { return nil }
        if failed { throw HTTPError(.badRequest, "request body unreadable") }
        if expectsContinue {
            expectsContinue = false
            try await connection.transport.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), [], deadline: Monotonic.after(connection.timeouts.sendIdle))
        }
        do {
            return decoder == nil ? try await nextSized() : try await nextChunked()
        } catch let error as HTTP1ParseError {
            // A handler passes this on; it must reach the client as the 400 it is, not as a 500.
            failed = true
            throw HTTPError(error.status, error.description)
        } catch IOError.timeout {
            failed = true
            throw HTTPError(.requestTimeout, "request body not received in time")
        } catch {
            failed = true
            throw error
        }
    }

    /// The framing error in the chunked bytes already buffered, if any, found without consuming
    /// them (a copy of the decoder runs over them). Lets the connection answer a malformed body
    /// with 400 even when the handler never read it.
    func framingErrorInBufferedBytes() -> HTTP1ParseError? {
        guard !isComplete, !failed, var probe = decoder else { return nil }
        let bytes = connection.buffer.readable
        var offset = 0
        while offset < bytes.count {
            do {
                let (consumed, event) = try probe.decode(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                offset += consumed
                if event == nil || event == .end { return nil }
            } catch {
                return error
            }
        }
        return nil
    }

    private func nextSized() async throws -> [UInt8]? {
        let buffer = connection.buffer
        if buffer.readableBytes == 0 { try await fill() }
        let chunk = buffer.read(upTo: min(remaining, Self.chunkSize))
        remaining -= chunk.count
        if remaining == 0 { isComplete = true }
        return chunk
    }

    private func nextChunked() async throws -> [UInt8]? {
        let buffer = connection.buffer
        while true {
            if buffer.readableBytes > 0 {
                let (consumed, event) = try decoder!.decode(buffer.readable)
                switch event {
                case .data(let range):
                    let chunk = [UInt8](UnsafeRawBufferPointer(rebasing: buffer.readable[range]))
                    buffer.moveReaderIndex(by: consumed)
                    if !chunk.isEmpty { return chunk }
                    continue
                case .end:
                    buffer.moveReaderIndex(by: consumed)
                    isComplete = true
                    return nil
                case nil:
                    buffer.moveReaderIndex(by: consumed)
                }
            }
            try await fill()
        }
    }

    private func fill() async throws {
        let n = try await connection.transport.read(into: connection.buffer, deadline: Monotonic.after(connection.timeouts.bodyIdle))
        if n == 0 { throw HTTPError(.badRequest, "request body ended early") }
    }

    /// Reads and drops the rest of the body (at most `drainLimit` bytes); true when it ended cleanly.
    func drain() async throws -> Bool {
        var dropped = 0
        while let chunk = try await nextOnLoop() {
            dropped += chunk.count
            if dropped > Self.drainLimit { return false }
        }
        return true
    }
}
