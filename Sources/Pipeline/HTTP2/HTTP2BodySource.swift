/// A request body arriving in DATA frames. Received bytes wait here until the handler pulls them,
/// and only then are they returned to the client's flow-control window, so a handler that reads
/// slowly slows the upload: at most one stream window is ever buffered (proxy.md §3.2).
/// `100 Continue` goes out on the first pull when the client asked for it (RFC 9110 §10.1.1).
final class HTTP2BodySource: BodySource, @unchecked Sendable {
    // Loop-confined: `next()` hops onto the connection's loop when called from elsewhere.
    private let stream: HTTP2Stream
    private var chunks: [[UInt8]] = []
    private var first = 0
    /// Bytes received and not yet handed to the handler (still counted against the window).
    private(set) var buffered = 0
    private(set) var isEnded = false
    private var failure: (any Error)?
    private var expectsContinue: Bool
    private var waiter: UnsafeContinuation<Void, any Error>?
    private var deadline: UInt64 = 0

    init(stream: HTTP2Stream, expectsContinue: Bool) {
        self.stream = stream
        self.expectsContinue = expectsContinue
    }

    /// Whether the handler may still want bytes (not ended, not failed).
    var isOpen: Bool { !isEnded && failure == nil }

    func next() async throws -> [UInt8]? {
        let loop = stream.loop
        if loop.inLoop { return try await nextOnLoop() }
        return try await withTaskExecutorPreference(loop) { try await self.nextOnLoop() }
    }

    private func nextOnLoop() async throws -> [UInt8]? {
        if let failure { throw failure }
        if first < chunks.count {
            let chunk = chunks[first]
            chunks[first] = []
            first += 1
            if first == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                first = 0
            }
            buffered -= chunk.count
            stream.connection.consumed(stream, chunk.count)
            return chunk
        }
        if isEnded { return nil }
        if expectsContinue {
            expectsContinue = false
            stream.connection.sendContinue(stream)
        }
        deadline = Monotonic.after(stream.connection.timeouts.bodyIdle)
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            // Entering may hop through the loop's queue; bytes that came meanwhile are taken below.
            if failure != nil || first < chunks.count || isEnded { continuation.resume() } else { waiter = continuation }
        }
        return try await nextOnLoop()
    }

    /// Bytes from a DATA frame.
    func receive(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard failure == nil else {
            stream.connection.consumed(stream, bytes.count)
            return
        }
        expectsContinue = false
        chunks.append(Array(bytes))
        buffered += bytes.count
        wake()
    }

    /// END_STREAM arrived.
    func end() {
        isEnded = true
        wake()
    }

    private func wake() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }

    /// The body will not complete (reset, timeout, connection closing). Buffered bytes are dropped;
    /// the caller returns them to the connection window. Returns how many there were.
    @discardableResult
    func fail(_ error: any Error) -> Int {
        guard failure == nil else { return 0 }
        failure = error
        let dropped = buffered
        chunks = []
        first = 0
        buffered = 0
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: error)
        }
        return dropped
    }

    /// Called by the sweep: a handler waiting longer than `bodyIdle` for bytes gets 408.
    func expire(now: UInt64) -> Bool {
        guard waiter != nil, now >= deadline else { return false }
        return true
    }
}
