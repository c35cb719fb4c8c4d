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
        // Built byte by byte into one array from static pieces: this runs for every response, and
        // a small file's bytes are read into the same array after it (`write(file:)`).
        var out: [UInt8] = []
        out.reserveCapacity(512)
        Self.append(version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ", to: &out)
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        Self.append(response.status.reasonPhrase, to: &out)
        out.append(0x0D)
        out.append(0x0A)
        var hasDate = false
        for field in response.headers {
            // Framing and connection management are this codec's, not the middleware's.
            switch Self.codecField(field.name) {
            case .framing: continue
            case .date: hasDate = true
            case .other: break
            }
            appendField(field.name, field.value, to: &out)
        }
        if !hasDate {
            Self.append("Date: ", to: &out)
            out.append(contentsOf: connection.loop.dateHeader)
            out.append(0x0D)
            out.append(0x0A)
        }
        if let length, response.status.code != 204 {
            Self.append("Content-Length: ", to: &out)
            appendDecimal(length, to: &out)
            out.append(0x0D)
            out.append(0x0A)
        } else if chunked {
            Self.append("Transfer-Encoding: chunked\r\n", to: &out)
        }
        if !keepAlive {
            Self.append("Connection: close\r\n", to: &out)
        } else if version == .http1_0 {
            Self.append("Connection: keep-alive\r\n", to: &out)
        }
        out.append(0x0D)
        out.append(0x0A)
        return out
    }

    private enum CodecField { case framing, date, other }

    /// Which response fields the codec writes itself (Content-Length, Transfer-Encoding,
    /// Connection, Keep-Alive: dropped from the middleware's) or looks for (Date), by length first.
    private static func codecField(_ name: String) -> CodecField {
        switch name.utf8.count {
        case 4: return name.equalsIgnoringASCIICase("Date") ? .date : .other
        case 10: return name.equalsIgnoringASCIICase("Connection") || name.equalsIgnoringASCIICase("Keep-Alive") ? .framing : .other
        case 14: return name.equalsIgnoringASCIICase("Content-Length") ? .framing : .other
        case 17: return name.equalsIgnoringASCIICase("Transfer-Encoding") ? .framing : .other
        default: return .other
        }
    }

    /// Appends a string's UTF-8 bytes (a literal's are contiguous: one copy).
    private static func append(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private static func append(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    private func appendField(_ name: String, _ value: String, to out: inout [UInt8]) {
        Self.append(name, to: &out)
        out.append(0x3A)
        out.append(0x20)
        var value = value
        value.withUTF8 { bytes in
            // A value with CR or LF would split the response (response splitting); drop those bytes.
            if bytes.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
                out.append(contentsOf: bytes.lazy.filter { $0 != 0x0D && $0 != 0x0A })
            } else {
                out.append(contentsOf: bytes)
            }
        }
        out.append(0x0D)
        out.append(0x0A)
    }

    /// Decimal digits of a non-negative value (status codes, lengths) without making a String.
    private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        Self.appendDigits(value, radix: 10, to: &out)
    }

    private static func appendDigits(_ value: Int, radix: Int, to out: inout [UInt8]) {
        guard value > 0 else {
            if value == 0 { out.append(0x30) } else { out.append(contentsOf: String(value, radix: radix).utf8) }
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: room for any Int in base 10 or 16
        withUnsafeMutableBytes(of: &digits) { raw in
            var v = value
            var i = raw.count
            while v > 0 {
                i -= 1
                let d = v % radix
                raw[i] = UInt8(d < 10 ? 0x30 + d : 0x57 + d)
                v /= radix
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
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
            if wroteChunk {
                prefix.append(0x0D)
                prefix.append(0x0A)
            }
            Self.appendDigits(chunk.count, radix: 16, to: &prefix)
            prefix.append(0x0D)
            prefix.append(0x0A)
            wroteChunk = true
        }
        if prefix.isEmpty {
            try await connection.transport.write(chunk, [], deadline: deadline)
        } else {
            // One segment: the plain transport gathers both with writev, TLS joins small pieces.
            try await connection.transport.write(prefix, chunk, deadline: deadline)
        }
    }

    /// Files up to this size go out with the head in one write, read straight behind it.
    static let inlineFileLimit = 32 * 1024

    func write(file region: FileRegion) async throws {
        let loop = connection.loop
        if !loop.inLoop {
            try await withTaskExecutorPreference(loop) { try await self.write(file: region) }
            return
        }
        let transport = connection.transport
        if !chunked, region.length <= Self.inlineFileLimit, pendingHead != nil {
            try await writeWithHead(region)
            return
        }
        // Large ones go by sendfile where the socket allows.
        guard transport.supportsSendfile, !chunked, region.length > Int64(Self.inlineFileLimit) else {
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

    /// A small file region read into the head's own array, after the head: one buffer, one write.
    /// A file that shrank before it was read fails before anything went out (an honest 500).
    private func writeWithHead(_ region: FileRegion) async throws {
        let count = Int(region.length)
        if let declaredLength, written + count > declaredLength {
            throw HTTPError(.internalServerError, "body longer than its Content-Length")
        }
        guard var out = pendingHead else { return }
        pendingHead = nil   // so `out` is the array's only reference and grows in place
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        let filled: Int
        do {
            filled = try out.withUnsafeMutableBytes { raw in
                try region.file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]), at: region.offset)
            }
        } catch {
            out.removeLast(count)
            pendingHead = out
            throw error
        }
        guard filled == count else {
            out.removeLast(count)
            pendingHead = out
            throw HTTPError(.internalServerError, "file shrank while it was sent")
        }
        written += count
        try await connection.transport.write(out, [], deadline: deadline)
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
            if wroteChunk { Self.append("\r\n0\r\n\r\n", to: &tail) } else { Self.append("0\r\n\r\n", to: &tail) }
        }
        if !tail.isEmpty { try await connection.transport.write(tail, [], deadline: deadline) }
    }
}
