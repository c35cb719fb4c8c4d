/// One HTTP/1.1 connection: reads heads, runs each request through the pipeline and writes the
/// response, in order, so pipelined requests are answered in the order they came.
/// Runs entirely on its loop, as the task the acceptor started there.
final class HTTP1Connection: DrainableConnection {
    let transport: any Transport
    let core: ServerCore
    let info: ConnectionInfo
    let buffer: ByteBuffer
    private let parser: HTTP1Parser
    private var idle = true
    private var body: HTTP1BodyReader?

    /// `buffer` may already hold the first bytes (read while sniffing for the HTTP/2 preface).
    init(transport: any Transport, core: ServerCore, info: ConnectionInfo, buffer: ByteBuffer = ByteBuffer()) {
        self.transport = transport
        self.buffer = buffer
        self.core = core
        self.info = info
        parser = HTTP1Parser(limits: info.listener.limits)
    }

    var loop: EventLoop { transport.io.loop }
    var timeouts: Timeouts { info.listener.timeouts }

    func drain() {
        if idle { transport.io.interrupt(.draining) }
    }

    /// Serves requests until the client closes, a timeout passes or a response ends the connection.
    func run() async {
        defer { transport.close() }
        // A new connection gets the head timeout, not the keep-alive one, for its first request:
        // connecting and sending nothing must not hold a connection longer than sending slowly.
        var firstDeadline: UInt64? = Monotonic.after(timeouts.requestHead)
        do {
            while let head = try await readHead(idleDeadline: firstDeadline) {
                firstDeadline = nil
                guard try await serve(head) else { return }
                if buffer.readableBytes == 0 { buffer.shrink(to: 16 * 1024) }
            }
        } catch {
            // Resets, timeouts and aborted bodies end the connection; there is nobody left to tell.
        }
    }

    /// The next request head, or nil when the connection should close quietly. `idleDeadline`
    /// replaces the keep-alive timeout while no byte of the head has arrived, and bounds the whole
    /// head when given.
    private func readHead(idleDeadline: UInt64?) async throws -> HTTP1RequestHead? {
        var headDeadline: UInt64?
        // Bytes left over from a pipelined request may already hold a head.
        var worthParsing = buffer.readableBytes > 0
        var sawLineEnd = buffer.readable.contains(0x0A)
        let limits = parser.limits
        while true {
            if worthParsing {
                do {
                    if case .head(let head, let consumed) = try parser.parse(buffer.readable) {
                        buffer.moveReaderIndex(by: consumed)
                        return head
                    }
                } catch {
                    RefusalLog.refused(info, protocol: "HTTP/1.1", status: error.status.code, reason: error.description)
                    // The rest of a head over a limit may still be on its way.
                    if (try? await writeError(error.status, error.description)) != nil { await lingeringClose() }
                    return nil
                }
            }
            // The head timeout runs from its first byte, so trickling bytes cannot keep it alive.
            if buffer.readableBytes > 0, headDeadline == nil { headDeadline = idleDeadline ?? Monotonic.after(timeouts.requestHead) }
            idle = buffer.readableBytes == 0
            if idle && core.closesIdle { return nil }
            let n: Int
            do {
                if idle {
                    n = try await readIdle(deadline: idleDeadline ?? Monotonic.after(timeouts.keepAlive))
                } else {
                    n = try await transport.read(into: buffer, deadline: headDeadline ?? idleDeadline ?? Monotonic.after(timeouts.keepAlive))
                }
            } catch IOError.timeout where !idle {
                RefusalLog.refused(info, protocol: "HTTP/1.1", status: 408, reason: "request head not received in time")
                try? await writeError(.requestTimeout, "request head not received in time")
                return nil
            }
            idle = false
            if n == 0 { return nil }
            // Parsing again helps only once a line has ended or a limit may have been passed:
            // re-parsing on every byte of a trickled head would cost time quadratic in its size.
            let fresh = UnsafeRawBufferPointer(rebasing: buffer.readable[(buffer.readableBytes - n)...])
            let endsLine = fresh.contains(0x0A)
            sawLineEnd = sawLineEnd || endsLine
            worthParsing = endsLine || buffer.readableBytes > limits.maxHeaderBytes
                || (!sawLineEnd && buffer.readableBytes > limits.maxURIBytes + 32)
        }
    }

    /// Reads the first bytes of the next request. An idle keep-alive connection holds no buffer
    /// while it waits (docs/security.md): a read is tried at once, and when nothing is there the
    /// buffer goes back to the loop's pool until the socket is readable. (No `MSG_PEEK` first: a
    /// wake-up with nothing to read costs one empty read, as a peek would.)
    private func readIdle(deadline: UInt64) async throws -> Int {
        let pool = loop.bufferPool
        while true {
            if buffer.writableBytes < 4096 {
                buffer.release(to: pool)
                buffer.take(from: pool)
                if buffer.writableBytes < 4096 { buffer.reserveWritable(16 * 1024) }
            }
            switch try transport.readNow(into: buffer.writable) {
            case .bytes(let n):
                buffer.moveWriterIndex(by: n)
                return n
            case .closed:
                return 0
            case .wantRead:
                buffer.release(to: pool)
                if core.closesIdle { return 0 }
                try await transport.io.waitReadable(deadline: deadline)
            case .wantWrite:
                buffer.release(to: pool)
                if core.closesIdle { return 0 }
                try await transport.io.waitWritable(deadline: deadline)
            }
        }
    }

    /// Serves one request; false when the connection must close afterwards.
    private func serve(_ head: HTTP1RequestHead) async throws -> Bool {
        let (path, query) = Request.split(target: head.target)
        var requestBody = IncomingBody.empty
        var reader: HTTP1BodyReader?
        if head.framing != .none {
            let source = HTTP1BodyReader(connection: self, framing: head.framing, expectsContinue: head.expectsContinue)
            reader = source
            if case .contentLength(let length) = head.framing {
                requestBody = IncomingBody(source: source, length: length)
            } else {
                requestBody = IncomingBody(source: source, length: nil)
            }
        }
        body = reader
        let request = Request(method: head.method, scheme: info.isSecure ? "https" : "http", authority: head.headers["Host"] ?? "",
                              path: path, query: query, headers: head.headers, body: requestBody, version: head.version)
        var (response, context) = await core.respond(to: request, on: info)

        var keepAlive = head.keepAlive && !core.isDraining
        // A malformed chunked body is a bad request even when the handler ignored it (RFC 9112 §7.1).
        if let reader, let error = reader.framingErrorInBufferedBytes() {
            response = HTTPError(error.status, error.description).response
            keepAlive = false
        }
        if response.headers.containsToken("close", in: "Connection") { keepAlive = false }
        // A body the handler left unread must be drained before the next request can be parsed;
        // if it cannot be (unsent 100-continue, too large), the connection closes instead.
        if let reader, !reader.isComplete, !reader.canDrainCheaply { keepAlive = false }

        let writer = HTTP1ResponseWriter(connection: self, isHead: head.method == .head, version: head.version)
        let outcome = await writer.send(response, keepAlive: keepAlive)
        context.complete(status: outcome.status, bytes: outcome.bytes, aborted: outcome.aborted)
        body = nil
        guard outcome.keepAlive else {
            if let reader, !reader.isComplete, !outcome.aborted { await lingeringClose() }
            return false
        }
        if let reader, !reader.isComplete {
            guard (try? await reader.drain()) == true else { return false }
        }
        return true
    }

    /// Closing with unread bytes in the receive queue makes the kernel send a reset, which can
    /// reach a client still sending its body (after a 413, say) before it has read the answer, and
    /// fails a client that sends everything before reading. So, with the answer sent: end our
    /// side, then read and drop what still arrives, for at most `lingerTime` or `lingerBytes`
    /// (nginx's lingering close).
    static let lingerTime: Duration = .seconds(3)
    static let lingerBytes = 16 << 20

    private func lingeringClose() async {
        transport.finishWriting()
        let end = Monotonic.after(Self.lingerTime)
        var dropped = 0
        while dropped < Self.lingerBytes {
            guard let n = try? await transport.read(into: buffer, deadline: end), n > 0 else { return }
            dropped += n
            buffer.moveReaderIndex(by: buffer.readableBytes)
        }
    }

    /// A short error response that closes the connection.
    func writeError(_ status: HTTPStatus, _ message: String) async throws {
        let text = message + "\n"
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nDate: "
        head += String(decoding: loop.dateHeader, as: UTF8.self)
        head += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n"
        try await transport.write(Array(head.utf8), Array(text.utf8), deadline: Monotonic.after(.seconds(5)))
    }
}
