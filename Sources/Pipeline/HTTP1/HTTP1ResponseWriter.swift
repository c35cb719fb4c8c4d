/// Writes one response on an HTTP/1.1 connection: the head goes out with the first body bytes in
/// one write; bodies of known length get Content-Length, others are chunked (close-delimited for
/// HTTP/1.0); file bodies use sendfile on plain sockets. A body that fails midway aborts the
/// connection so the client never mistakes a truncated body for a complete one.
final class HTTP1ResponseWriter: ResponseBodyWriter, @unchecked Sendable {
    // Loop-confined; `write` hops onto the loop when a producer calls from elsewhere.
    private unowned let connection: HTTP1Connection
    private let isHead: Bool
    private let version: HTTPVersion
    private var pendingHead: [UInt8]?
    private var chunked = false
    private var declaredLength: Int?
    private var written = 0
    private var wroteChunk = false

    struct Outcome {
        var status: Int
        var bytes: Int
        var aborted: Bool
        var keepAlive: Bool
    }

    init(connection: HTTP1Connection, isHead: Bool, version: HTTPVersion) {
        self.connection = connection
        self.isHead = isHead
        self.version = version
    }

    private var deadline: UInt64 { Monotonic.after(connection.timeouts.sendIdle) }

    /// Sends the whole response; the outcome says whether the connection may be reused.
    func send(_ response: Response, keepAlive requested: Bool) async -> Outcome {
        var keepAlive = requested
        let status = response.status
        let hasContent = status.allowsContent && !isHead
        var length = response.body.length
        let declared = response.headers["Content-Length"].flatMap(Int.init)
        if status.code == 304 {
            // RFC 9110 §8.6: a 304 may only repeat the length a 200 would have had, never its own 0.
            length = declared
        } else if length == nil, isHead, let declared {
            length = declared
        }
        if hasContent, length == nil {
            if version == .http1_1 { chunked = true } else { keepAlive = false }
        }
        declaredLength = hasContent ? length : nil
        pendingHead = head(response, length: status.code >= 200 ? length : nil, keepAlive: keepAlive)

        do {
            if hasContent {
                try await writeBody(response.body)
            }
            try await finish()
            return Outcome(status: status.code, bytes: written, aborted: false, keepAlive: keepAlive)
        } catch {
            if pendingHead != nil {
                // Nothing went out yet: the client can still get an honest error.
                let failure = (error as? HTTPError) ?? HTTPError(.badGateway, "response failed before it started")
                pendingHead = nil
                try? await connection.writeError(failure.status, failure.message)
                return Outcome(status: failure.status.code, bytes: 0, aborted: true, keepAlive: false)
            }
            return Outcome(status: status.code, bytes: written, aborted: true, keepAlive: false)
        }
    }

    private func head(_ response: Response, length: Int?, keepAlive: Bool) -> [UInt8] {
        // Built byte by byte into one array: this runs for every response.
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: version == .http1_0 ? "HTTP/1.0 ".utf8 : "HTTP/1.1 ".utf8)
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        out.append(contentsOf: response.status.reasonPhrase.utf8)
        out += [0x0D, 0x0A]
        var hasDate = false
        for field in response.headers {
            // Framing and connection management are this codec's, not the middleware's.
            if field.name.equalsIgnoringASCIICase("Content-Length") || field.name.equalsIgnoringASCIICase("Transfer-Encoding")
                || field.name.equalsIgnoringASCIICase("Connection") || field.name.equalsIgnoringASCIICase("Keep-Alive") {
                continue
            }
            if field.name.equalsIgnoringASCIICase("Date") { hasDate = true }
            appendField(field.name.utf8, field.value.utf8, to: &out)
        }
        if !hasDate { appendField("Date".utf8, connection.loop.dateHeader, to: &out) }
        if let length, response.status.code != 204 {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(length, to: &out)
            out += [0x0D, 0x0A]
        } else if chunked {
            out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http1_0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out += [0x0D, 0x0A]
        return out
    }

    private func appendField(_ name: some Collection<UInt8>, _ value: some Collection<UInt8>, to out: inout [UInt8]) {
        out.append(contentsOf: name)
        out += [0x3A, 0x20]
        // A value with CR or LF would split the response (response splitting); drop those bytes.
        if value.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            out.append(contentsOf: value.lazy.filter { $0 != 0x0D && $0 != 0x0A })
        } else {
            out.append(contentsOf: value)
        }
        out += [0x0D, 0x0A]
    }

    private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)   // a small string: no allocation
    }

    private func writeBody(_ body: ResponseBody) async throws {
        switch body.content {
        case .empty:
            return
        case .bytes(let bytes):
            try await write(bytes)
        case .file(let region):
            try await write(file: region)
        case .stream(let produce):
            try await produce(self)
        }
    }

    func write(_ chunk: [UInt8]) async throws {
        let loop = connection.loop
        if !loop.inLoop {
            try await withTaskExecutorPreference(loop) { try await self.write(chunk) }
            return
        }
        if chunk.isEmpty { return }
        if let declaredLength, written + chunk.count > declaredLength {
            throw HTTPError(.internalServerError, "body longer than its Content-Length")
        }
        written += chunk.count
        var prefix = pendingHead ?? []
        pendingHead = nil
        if chunked {
            // The CRLF that ends the previous chunk rides in front of this one: one write per chunk.
            if wroteChunk { prefix += [0x0D, 0x0A] }
            prefix += Array(String(chunk.count, radix: 16).utf8) + [0x0D, 0x0A]
            wroteChunk = true
        }
        if prefix.isEmpty {
            try await connection.transport.write(chunk, [], deadline: deadline)
        } else {
            // One segment: the plain transport gathers both with writev, TLS joins small pieces.
            try await connection.transport.write(prefix, chunk, deadline: deadline)
        }
    }

    func write(file region: FileRegion) async throws {
        let loop = connection.loop
        if !loop.inLoop {
            try await withTaskExecutorPreference(loop) { try await self.write(file: region) }
            return
        }
        let transport = connection.transport
        // Small files ride with the head in one write; large ones go by sendfile where the socket allows.
        guard transport.supportsSendfile, !chunked, region.length > 32 * 1024 else {
            var offset = region.offset
            let end = region.offset + region.length
            while offset < end {
                let chunk = try region.file.read(at: offset, count: Int(min(256 * 1024, end - offset)))
                if chunk.isEmpty { throw HTTPError(.internalServerError, "file shrank while it was sent") }
                try await write(chunk)
                offset += Int64(chunk.count)
            }
            return
        }
        if let declaredLength, written + Int(region.length) > declaredLength {
            throw HTTPError(.internalServerError, "body longer than its Content-Length")
        }
        if let head = pendingHead {
            pendingHead = nil
            try await transport.write(head, [], deadline: deadline)
        }
        let sendIdle = connection.timeouts.sendIdle
        try await transport.io.sendfile(region.file, offset: region.offset, length: region.length, deadline: { Monotonic.after(sendIdle) })
        written += Int(region.length)
    }

    // MARK: splice relay (Client/SpliceRelay.swift)

    var loop: EventLoop { connection.loop }

    /// The client's socket when `count` more body bytes may be spliced straight into it: a plain
    /// socket and Content-Length framing with room for them. nil sends the relay down the copy path.
    func spliceSocket(for count: Int) -> SocketIO? {
        guard connection.transport is PlainTransport, !chunked, let declaredLength, written + count <= declaredLength else { return nil }
        return connection.transport.io
    }

    /// Sends the head if it has not gone out with a first chunk yet.
    func flushHead() async throws {
        guard let head = pendingHead else { return }
        pendingHead = nil
        try await connection.transport.write(head, [], deadline: deadline)
    }

    /// Counts bytes a relay spliced into the socket.
    func didSplice(_ count: Int) { written += count }

    var sendIdle: Duration { connection.timeouts.sendIdle }

    private func finish() async throws {
        if let declaredLength, written != declaredLength {
            throw HTTPError(.internalServerError, "body shorter than its Content-Length")
        }
        var tail = pendingHead ?? []
        pendingHead = nil
        if chunked {
            tail += wroteChunk ? Array("\r\n0\r\n\r\n".utf8) : Array("0\r\n\r\n".utf8)
        }
        if !tail.isEmpty { try await connection.transport.write(tail, [], deadline: deadline) }
    }
}
