/// One HTTP/2 connection (h2 by ALPN, or h2c with prior knowledge). A reader feeds received
/// bytes to nghttp2 and a writer sends whatever nghttp2 has ready; each request stream becomes a
/// `Request` that runs through `ServerCore.respond` in its own task on this loop, like HTTP/1.1.
/// Flow control follows consumption both ways (see `HTTP2BodySource`, `HTTP2ResponseWriter`);
/// floods end the connection with GOAWAY ENHANCE_YOUR_CALM (`HTTP2FloodGuard`); a client reset
/// cancels its stream's task; drain sends GOAWAY and lets streams in flight finish.
final class HTTP2Connection: DrainableConnection, Expiring, @unchecked Sendable {
    // Loop-confined: the reader, the writer, the stream tasks and nghttp2's callbacks all run on `loop`.
    let transport: any Transport
    let core: ServerCore
    let info: ConnectionInfo
    let settings: HTTP2Settings
    private let buffer: ByteBuffer
    private(set) var session: HTTP2Session!
    private var streams: [Int32: HTTP2Stream] = [:]
    /// Streams open in nghttp2 or whose handler still runs (a reset stream's handler counts until it ends).
    private var activeStreams = 0
    private var runningTasks = 0
    private var floodGuard: HTTP2FloodGuard
    private var headerBlockBytes = 0
    /// When the header block still waiting for END_HEADERS began (the head timeout runs from it).
    private var headerBlockSince: UInt64?
    private var calmReason: String?
    private var goingAway = false
    private var readerStopped = false
    private var closing = false
    private var closeDeadline: UInt64 = 0
    private var sawFrames = false
    private var peerClosed = false
    private var writeFailed = false
    private var idleSince = Monotonic.now
    private let started = Monotonic.now
    private var flushWaiter: UnsafeContinuation<Void, Never>?
    private var flushRequested = false
    private var quietWaiter: UnsafeContinuation<Void, Never>?

    /// How much the writer gathers from nghttp2 before one socket write.
    static let writeChunk = 64 * 1024
    /// How long to wait for the client's FIN after ours.
    static let lingerTime: Duration = .seconds(2)

    /// `buffer` may already hold the client's first bytes (read while sniffing for the preface).
    init(transport: any Transport, core: ServerCore, info: ConnectionInfo, buffer: ByteBuffer = ByteBuffer()) throws {
        self.transport = transport
        self.core = core
        self.info = info
        self.buffer = buffer
        settings = info.listener.http2
        floodGuard = HTTP2FloodGuard(settings: info.listener.http2)
        session = try HTTP2Session(connection: self, settings: settings)
    }

    var loop: EventLoop { transport.io.loop }
    var timeouts: Timeouts { info.listener.timeouts }

    /// Serves streams until the client leaves, the connection idles out, or a drain completes.
    func run() async {
        loop.track(self)
        async let writing: Void = writeLoop()
        await readLoop()
        await shutDown()
        await writing
        if !peerClosed, !writeFailed {
            // GOAWAY and the last DATA are out; a close with unread input would reset them away.
            transport.finishWriting()
            await transport.io.linger(until: Monotonic.after(Self.lingerTime))
        }
        transport.close()
        loop.untrack(self)
        for stream in streams.values { stream.retire() }
        streams = [:]
    }

    // MARK: Reading and writing

    private func readLoop() async {
        while !readerStopped {
            if buffer.readableBytes > 0 {
                let result = session.receive(buffer.readable)
                buffer.moveReaderIndex(by: buffer.readableBytes)
                if result < 0 {
                    fail(result)
                    return
                }
                sawFrames = true
                scheduleFlush()
                if readerStopped || (!session.wantsRead && !session.wantsWrite) { return }
            }
            do {
                if activeStreams == 0, buffer.readableBytes == 0 {
                    // Idle: hold no read buffer while waiting (docs/security.md, memory).
                    buffer.release()
                    try await transport.awaitInput(deadline: readDeadline)
                }
                if try await transport.read(into: buffer, deadline: readDeadline) == 0 {
                    peerClosed = true
                    return
                }
            } catch IOError.timeout {
                if headerBlockSince != nil {
                    // A header block trickled or left unfinished (slowloris over HTTP/2): the
                    // client can send nothing else on this connection until it ends, so it closes.
                    RefusalLog.refused(info, protocol: "HTTP/2", status: 408, reason: "request head not received in time")
                    session.terminate(.noError)
                    return
                }
                guard activeStreams == 0 else { continue }
                // Idle past keepAlive (or no preface in time): say goodbye properly.
                session.goAway(.noError)
                return
            } catch IOError.draining {
                return
            } catch {
                peerClosed = true
                return
            }
        }
    }

    private var readDeadline: UInt64 {
        let requestHead = UInt64(max(0, timeouts.requestHead.seconds * 1000))
        if !sawFrames { return started + requestHead }
        let keepAlive = UInt64(max(0, timeouts.keepAlive.seconds * 1000))
        let deadline = activeStreams > 0 ? Monotonic.now + keepAlive : idleSince + keepAlive
        if let since = headerBlockSince { return min(deadline, since + requestHead) }
        return deadline
    }

    /// nghttp2 refused the input: tell the client why, when it can still be told.
    private func fail(_ code: Int) {
        if let calmReason {
            Log.warning("HTTP/2 client flood; connection closed", [("client", info.peer.ip), ("listener", info.listener.name), ("reason", calmReason)])
            session.terminate(.enhanceYourCalm)
        } else if HTTP2Session.isFlood(code) {
            // The client does not read our PING/SETTINGS acknowledgements.
            session.terminate(.enhanceYourCalm)
        } else if !HTTP2Session.isBadPreface(code) {
            session.terminate(.protocolError)
        }
    }

    private func writeLoop() async {
        var out: [UInt8] = []
        out.reserveCapacity(Self.writeChunk + 16 * 1024)
        while true {
            flushRequested = false
            guard session.send(into: &out, limit: Self.writeChunk) else {
                stopReader()
                return
            }
            if out.isEmpty {
                if closing { return }
                // Idle: the write buffer (up to 80 KiB) is not kept while nothing is in flight.
                if activeStreams == 0, out.capacity > 0 { out = [] }
                // Entering the continuation may hop through the loop's queue; a flush asked for
                // meanwhile must not be lost, so the test happens inside.
                await withUnsafeContinuation { continuation in
                    if flushRequested || closing { continuation.resume() } else { flushWaiter = continuation }
                }
                continue
            }
            do {
                try await transport.write(out, [], deadline: Monotonic.after(timeouts.sendIdle))
            } catch {
                writeFailed = true
                stopReader()
                return
            }
            out.removeAll(keepingCapacity: true)
        }
    }

    /// Wakes the writer: nghttp2 has (or may have) frames to send.
    func scheduleFlush() {
        flushRequested = true
        if let waiter = flushWaiter {
            flushWaiter = nil
            waiter.resume()
        }
    }

    private func stopReader() {
        guard !readerStopped else { return }
        readerStopped = true
        transport.io.interruptRead(.draining)
    }

    /// Ends every stream still open, sends what nghttp2 still has (GOAWAY), and waits for the handlers.
    private func shutDown() async {
        readerStopped = true
        closing = true
        closeDeadline = Monotonic.after(.seconds(5))
        for stream in streams.values where !stream.isClosed {
            stream.body.map { _ = $0.fail(IOError.closed) }
            stream.writer?.closed(IOError.closed)
            stream.task?.cancel()
        }
        scheduleFlush()
        while runningTasks > 0 {
            await withUnsafeContinuation { continuation in
                if runningTasks == 0 { continuation.resume() } else { quietWaiter = continuation }
            }
        }
    }

    // MARK: Drain and timeouts

    func drain() {
        guard !closing else { return }
        if !goingAway {
            goingAway = true
            session.goAway(.noError)
            scheduleFlush()
        }
        if activeStreams == 0 { stopReader() }
    }

    func expire(now: UInt64) {
        if closing {
            // A client that stopped reading must not hold the last flush forever.
            if now >= closeDeadline { transport.io.interrupt(.timeout) }
            return
        }
        let sendIdle = UInt64(max(0, timeouts.sendIdle.seconds * 1000))
        var changed = false
        for stream in streams.values where !stream.isClosed {
            if let body = stream.body, body.expire(now: now) {
                session.consume(stream.id, body.fail(HTTPError(.requestTimeout, "request body not received in time")))
                changed = true
            }
            // A client that keeps its window shut (zero-window stall) loses the stream, not the server's memory.
            if let writer = stream.writer, writer.hasPendingData, now >= writer.lastProgress + sendIdle {
                session.reset(stream.id, .cancel)
                changed = true
            }
        }
        if changed { scheduleFlush() }
    }

    // MARK: nghttp2 events (called inside `receive` and `send`)

    /// Every frame header; false ends the connection (the flood guard said so).
    func frameBegins(type: UInt8, flags: UInt8, length: Int, streamID: Int32) -> Bool {
        switch type {
        case 0x1:  // HEADERS
            headerBlockBytes = length
            headerBlockSince = flags & 0x4 == 0 ? Monotonic.now : nil
        case 0x9:  // CONTINUATION: a block larger than any allowed header list is a flood (CVE-2024-27316)
            headerBlockBytes += length
            if flags & 0x4 != 0 { headerBlockSince = nil }
        case 0x3:  // RST_STREAM
            if !floodGuard.allowReset() { return calm("more than \(settings.maxResetsPerSecond) stream resets per second") }
        case 0x0:  // DATA: only empty ones that do not end the stream cost without carrying anything
            if length == 0, flags & 0x1 == 0, !floodGuard.allowControlFrame() { return calm("empty DATA frame flood") }
        case 0x5, 0x7, 0x8:  // PUSH_PROMISE (nghttp2 rejects it), GOAWAY, WINDOW_UPDATE
            break
        default:  // SETTINGS, PING, PRIORITY, unknown types
            if !floodGuard.allowControlFrame() {
                return calm("more than \(settings.maxControlFramesPerSecond) control frames per second")
            }
        }
        if type == 0x1 || type == 0x9, headerBlockBytes > settings.maxHeaderListBytes + 1024 {
            return calm("header block over \(settings.maxHeaderListBytes) bytes")
        }
        return true
    }

    private func calm(_ reason: String) -> Bool {
        calmReason = reason
        return false
    }

    /// A request stream opens; nil refuses it (REFUSED_STREAM, the client may retry it).
    func streamBegins(_ id: Int32) -> HTTP2Stream? {
        guard !closing, activeStreams < settings.maxConcurrentStreams else {
            session.reset(id, .refusedStream)
            return nil
        }
        let stream = HTTP2Stream(id: id, connection: self, headerLimit: settings.maxHeaderListBytes, limits: info.listener.limits)
        streams[id] = stream
        activeStreams += 1
        return stream
    }

    /// One decoded field of a request head (`stream`) or of trailers (nil); false ends the
    /// connection: the client made us decode more than its budget for nothing (an HPACK bomb).
    func headerField(_ stream: HTTP2Stream?, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Bool {
        let wasted = stream?.head.add(name: name, value: value) ?? (name.count + value.count + 32)
        if wasted > 0, !floodGuard.allowWastedHeaderBytes(wasted) {
            return calm("header fields decoded past the limits faster than \(HTTP2FloodGuard.wastedHeaderListsPerSecond) header lists per second (HPACK bomb)")
        }
        return true
    }

    /// The request head is complete: start the stream's task. False ends the connection (too
    /// many refused heads).
    func requestHeadComplete(_ stream: HTTP2Stream, endStream: Bool) -> Bool {
        stream.requestEnded = endStream
        stream.writer = HTTP2ResponseWriter(stream: stream)
        let head = stream.head
        stream.head = HTTP2RequestHead(limit: 0)
        if let refusal = head.refusal {
            guard floodGuard.allowRefusedHeaderList() else {
                return calm("more than \(HTTP2FloodGuard.refusedHeaderListsPerSecond) refused request heads per second")
            }
            RefusalLog.refused(info, protocol: "HTTP/2", status: refusal.status.code, reason: refusal.description)
            start(stream, .answer(HTTPError(refusal.status, refusal.description).response))
            return true
        }
        if head.method == "CONNECT" {
            start(stream, .answer(HTTPError(.methodNotAllowed, "CONNECT is not supported").response))
            return true
        }
        var body = IncomingBody.empty
        if !endStream {
            let expects = head.fields.contains { $0.name == "expect" && $0.value.equalsIgnoringASCIICase("100-continue") }
            let source = HTTP2BodySource(stream: stream, expectsContinue: expects)
            stream.body = source
            let length = head.fields.first { $0.name == "content-length" }.flatMap { Int($0.value) }
            body = IncomingBody(source: source, length: length)
        }
        start(stream, .request(head.request(scheme: info.isSecure ? "https" : "http", body: body)))
        return true
    }

    /// What a stream's task answers: a request through the chain, or a codec's own answer.
    private enum Work: Sendable {
        case request(Request)
        case answer(Response)
    }

    private func start(_ stream: HTTP2Stream, _ work: Work) {
        guard let writer = stream.writer else { return }
        stream.taskDone = false
        runningTasks += 1
        // No async closure or function between the task and the chain or the writer that need not
        // be one: each such call is a task switch (an executor-preference check under a lock).
        stream.task = Task(executorPreference: loop) { [self] in
            switch work {
            case .request(let request):
                let (response, context) = await core.respond(to: request, on: info)
                if let produce = writer.start(response, context: context, isHead: request.method == .head) {
                    await writer.stream(produce)
                }
            case .answer(let response):
                if let produce = writer.start(response, context: nil, isHead: false) { await writer.stream(produce) }
            }
            taskEnded(stream)
        }
    }

    private func taskEnded(_ stream: HTTP2Stream) {
        stream.taskDone = true
        runningTasks -= 1
        finishIfDone(stream)
        if runningTasks == 0, let waiter = quietWaiter {
            quietWaiter = nil
            waiter.resume()
        }
    }

    private func finishIfDone(_ stream: HTTP2Stream) {
        guard stream.isFinished else { return }
        stream.retire()
        activeStreams -= 1
        if activeStreams == 0 {
            idleSince = Monotonic.now
            if goingAway { stopReader() }
        }
    }

    func requestData(_ stream: HTTP2Stream, _ bytes: UnsafeBufferPointer<UInt8>) {
        if let body = stream.body, body.isOpen {
            body.receive(bytes)
        } else {
            session.consume(stream.id, bytes.count)
        }
    }

    func requestBodyEnded(_ stream: HTTP2Stream) {
        stream.requestEnded = true
        stream.body?.end()
    }

    /// The handler took `count` bytes of a request body.
    func consumed(_ stream: HTTP2Stream, _ count: Int) {
        session.consume(stream.id, count)
        scheduleFlush()
    }

    func sendContinue(_ stream: HTTP2Stream) {
        guard !stream.isClosed else { return }
        session.submitInformational(stream.id, head: HTTP2ResponseHead(status: 100, headers: [:], length: nil, date: []))
        scheduleFlush()
    }

    func fill(_ stream: HTTP2Stream, _ buffer: UnsafeMutableRawBufferPointer) -> HTTP2Fill {
        stream.writer?.fill(buffer) ?? .failed
    }

    /// The response's last frame (END_STREAM) went out.
    func responseEnded(_ stream: HTTP2Stream) {
        stream.writer?.ended()
        if !stream.requestEnded, !stream.isClosed {
            // The answer is complete; the rest of the upload is not wanted (RFC 9113 §8.1).
            session.reset(stream.id, .noError)
            if let body = stream.body { session.consume(stream.id, body.fail(IOError.closed)) }
        }
    }

    /// nghttp2 closed the stream: both sides ended, or either side reset it.
    func streamClosed(_ stream: HTTP2Stream, code: UInt32) {
        stream.isClosed = true
        streams[stream.id] = nil
        let finished = stream.writer?.isCompleted ?? false
        if let body = stream.body {
            let dropped = body.fail(IOError.connectionReset)
            if dropped > 0 { session.consumeConnection(dropped) }
        }
        stream.writer?.closed(IOError.connectionReset)
        // A reset before the response finished: the handler's work is no longer wanted.
        if !finished, !stream.taskDone { stream.task?.cancel() }
        finishIfDone(stream)
    }
}
