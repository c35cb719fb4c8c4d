#if canImport(Glibc)
internal import Glibc
#endif

/// Sends one response on an HTTP/2 stream. Bytes and file bodies are read straight into nghttp2's
/// DATA frames by the data provider, so they move only as fast as the client's window opens.
/// Streamed bodies queue what the producer writes; `write` suspends while more than
/// `highWatermark` bytes wait, and the provider defers when the queue is empty and resumes when it
/// fills (proxy.md §3.2). The head waits for the first body bytes, so a producer that fails before
/// writing anything still gets an honest error response; one that fails later resets the stream
/// with INTERNAL_ERROR, never a clean END_STREAM.
final class HTTP2ResponseWriter: ResponseBodyWriter, @unchecked Sendable {
    // Loop-confined; `write` hops onto the loop when a producer calls from elsewhere.
    private let stream: HTTP2Stream
    private enum Source {
        case none
        case bytes([UInt8], offset: Int)
        case file(FileRegion, position: Int64)
        case queue
    }
    private var source = Source.none
    private var queue: [[UInt8]] = []
    private var queueOffset = 0
    private var queued = 0
    private var producerDone = false
    private var deferred = false
    private var pendingHead: HTTP2ResponseHead?
    private var trailers: HTTP2ResponseHead?
    private var declaredLength: Int?
    private var written = 0
    private var waiter: UnsafeContinuation<Void, any Error>?
    private var failure: (any Error)?
    private var context: Context?
    private var status = 0
    private var sent = 0
    private var abortedBeforeStart = false
    private(set) var isCompleted = false
    /// When DATA last moved (or the response started): the sweep resets streams stalled longer than `sendIdle`.
    private(set) var lastProgress = Monotonic.now

    static let highWatermark = 256 * 1024
    static let lowWatermark = 64 * 1024

    init(stream: HTTP2Stream) { self.stream = stream }

    private var connection: HTTP2Connection { stream.connection }

    /// Whether DATA is ready but not going out (the sweep's stall test).
    var hasPendingData: Bool {
        switch source {
        case .none: false
        case .bytes, .file: !isCompleted
        case .queue: queued > 0 || (producerDone && !isCompleted)
        }
    }

    // MARK: Sending

    /// Sends `response` (from the chain, or a codec error when `context` is nil) to the end.
    func send(_ response: Response, context: Context?, isHead: Bool) async {
        if let produce = start(response, context: context, isHead: isHead) { await stream(produce) }
    }

    /// Submits `response`: all of it when nothing needs waiting for (no body, bytes, a file). A
    /// streamed body is returned for the caller to run through `stream`.
    func start(_ response: Response, context: Context?, isHead: Bool) -> (@Sendable (any ResponseBodyWriter) async throws -> Void)? {
        self.context = context
        status = response.status.code
        lastProgress = Monotonic.now
        guard !stream.isClosed else {
            // Reset while the handler ran: nothing goes out, and the log says so.
            isCompleted = true
            context?.complete(status: status, bytes: 0, aborted: true)
            return nil
        }
        // A 304 announces the length of what it stands for, if anything (RFC 9110 §8.6), never its own 0.
        var length = status == 304 ? nil : response.body.length
        if length == nil, isHead || status == 304, let declared = response.headers["content-length"].flatMap(Int.init) {
            length = declared
        }
        let head = HTTP2ResponseHead(status: status, headers: response.headers, length: status >= 200 ? length : nil,
                                     date: stream.loop.dateHeader)
        guard response.status.allowsContent, !isHead else {
            submit(head, body: false)
            return nil
        }
        switch response.body.content {
        case .empty:
            submit(head, body: false)
        case .bytes(let bytes):
            source = .bytes(bytes, offset: 0)
            submit(head, body: !bytes.isEmpty)
        case .file(let region):
            source = .file(region, position: region.offset)
            submit(head, body: region.length > 0)
        case .stream(let produce):
            source = .queue
            declaredLength = length
            pendingHead = head
            return produce
        }
        return nil
    }

    /// Runs the producer of a streamed body that `start` returned, to its end or its failure.
    func stream(_ produce: @Sendable (any ResponseBodyWriter) async throws -> Void) async {
        do {
            try await produce(self)
            try await finish()
        } catch {
            await abort(error)
        }
    }

    private func submit(_ head: HTTP2ResponseHead, body: Bool) {
        guard !stream.isClosed, stream.session.submitResponse(stream.id, head: head, body: body) else { return complete(aborted: true) }
        lastProgress = Monotonic.now
        connection.scheduleFlush()
    }

    func write(_ chunk: [UInt8]) async throws {
        let loop = stream.loop
        if !loop.inLoop {
            try await withTaskExecutorPreference(loop) { try await self.write(chunk) }
            return
        }
        if let failure { throw failure }
        guard case .queue = source else { throw HTTPError(.internalServerError, "body written outside its stream") }
        if chunk.isEmpty { return }
        if let declaredLength, written + chunk.count > declaredLength {
            throw HTTPError(.internalServerError, "body longer than its Content-Length")
        }
        written += chunk.count
        if queued == 0 { lastProgress = Monotonic.now }
        queue.append(chunk)
        queued += chunk.count
        kick()
        while queued >= Self.highWatermark {
            if let failure { throw failure }
            // Tested again inside: entering may hop through the loop's queue while DATA drains.
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                if failure != nil || queued < Self.highWatermark { continuation.resume() } else { waiter = continuation }
            }
        }
        if let failure { throw failure }
    }

    func writeTrailers(_ fields: HTTPFields) async throws {
        let loop = stream.loop
        if !loop.inLoop {
            try await withTaskExecutorPreference(loop) { try await self.writeTrailers(fields) }
            return
        }
        if let failure { throw failure }
        let head = HTTP2ResponseHead(trailers: fields)
        if !head.isEmpty { trailers = head }
    }

    private func finish() async throws {
        if let failure { throw failure }
        if let declaredLength, written != declaredLength {
            throw HTTPError(.internalServerError, "body shorter than its Content-Length")
        }
        producerDone = true
        kick()
    }

    /// Gets what was written moving: the head with its data provider first, then resumes a deferred provider.
    private func kick() {
        if let head = pendingHead {
            pendingHead = nil
            submit(head, body: written > 0 || trailers != nil)
        } else if deferred {
            deferred = false
            stream.session.resume(stream.id)
            connection.scheduleFlush()
        }
    }

    /// The producer failed: an error response if nothing went out yet, otherwise RST_STREAM.
    private func abort(_ error: any Error) async {
        failure = failure ?? error
        if pendingHead != nil, !stream.isClosed {
            pendingHead = nil
            let reply = ((error as? HTTPError) ?? HTTPError(.badGateway, "response failed before it started")).response
            abortedBeforeStart = true
            await send(reply, context: context, isHead: false)
            return
        }
        if !stream.isClosed {
            // Let the writer send what was already submitted (the head, queued DATA) first:
            // nghttp2 drops a stream's unsent frames once it is reset, and the client should see
            // the response start before it is cut.
            await Task.yield()
            guard !stream.isClosed else { return }
            stream.session.reset(stream.id, .internalError)
            connection.scheduleFlush()
        }
    }

    // MARK: Data provider

    /// Copies the next DATA payload into `buffer` (called by nghttp2 inside `send`).
    func fill(_ buffer: UnsafeMutableRawBufferPointer) -> HTTP2Fill {
        // A stream being torn down sends nothing more.
        if failure != nil, !abortedBeforeStart { return .deferred }
        lastProgress = Monotonic.now
        switch source {
        case .none:
            return .end(0, trailers: nil)
        case .bytes(let bytes, let offset):
            let count = min(buffer.count, bytes.count - offset)
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
            sent += count
            if offset + count == bytes.count {
                source = .bytes([], offset: 0)
                return .end(count, trailers: nil)
            }
            source = .bytes(bytes, offset: offset + count)
            return .data(count)
        case .file(let region, let position):
            let end = region.offset + region.length
            let want = Int(min(Int64(buffer.count), end - position))
            var count = 0
            while count < want {
                let n = pread(region.file.descriptor, buffer.baseAddress! + count, want - count, off_t(position) + off_t(count))
                if n < 0, errno == EINTR { continue }
                // A file that shrank or failed mid-body cannot end cleanly.
                guard n > 0 else { return .failed }
                count += n
            }
            sent += count
            source = .file(region, position: position + Int64(count))
            return position + Int64(count) == end ? .end(count, trailers: nil) : .data(count)
        case .queue:
            var count = 0
            while count < buffer.count, !queue.isEmpty {
                let chunk = queue[0]
                let take = min(buffer.count - count, chunk.count - queueOffset)
                chunk.withUnsafeBytes { (buffer.baseAddress! + count).copyMemory(from: $0.baseAddress! + queueOffset, byteCount: take) }
                count += take
                queueOffset += take
                if queueOffset == chunk.count {
                    queue.removeFirst()
                    queueOffset = 0
                }
            }
            queued -= count
            sent += count
            if queued < Self.lowWatermark, let waiter {
                self.waiter = nil
                waiter.resume()
            }
            if queued == 0, producerDone { return .end(count, trailers: trailers) }
            if count == 0 {
                deferred = true
                return .deferred
            }
            return .data(count)
        }
    }

    // MARK: Outcome

    /// The last frame of the response went out.
    func ended() {
        complete(aborted: abortedBeforeStart)
    }

    /// The stream closed (reset by either side, or the connection ended).
    func closed(_ error: any Error) {
        if failure == nil { failure = error }
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: error)
        }
        queue = []
        queued = 0
        complete(aborted: true)
    }

    private func complete(aborted: Bool) {
        guard !isCompleted else { return }
        isCompleted = true
        context?.complete(status: status, bytes: sent, aborted: aborted)
    }
}
