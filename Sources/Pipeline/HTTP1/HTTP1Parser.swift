/// Parses HTTP/1.1 request heads from a contiguous buffer (never byte by byte through an async
/// sequence), enforcing the limits and the RFC 9112 framing rules that stop request smuggling:
/// Content-Length with Transfer-Encoding, differing duplicate Content-Length, obs-fold, bare CR
/// or LF, NUL and control characters are all refused.
public struct HTTP1Parser: Sendable {
    public enum Result: Equatable {
        /// More bytes are needed.
        case incomplete
        /// A head, and how many bytes of the buffer it used.
        case head(HTTP1RequestHead, consumed: Int)
    }

    public var limits: HTTPLimits

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Parses one head from the start of `bytes`.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> Result {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
        var start = 0
        while start + 1 < bytes.count, bytes[start] == 0x0D, bytes[start + 1] == 0x0A, start < 4 { start += 2 }

        guard let lineEnd = try findLineEnd(bytes, from: start, limit: limits.maxURIBytes + 32) else {
            if bytes.count - start > limits.maxURIBytes + 32 { throw .uriTooLong }
            if bytes.count > limits.maxHeaderBytes { throw .headersTooLarge }
            return .incomplete
        }
        let (method, parsedTarget, version) = try parseRequestLine(bytes, start, lineEnd)
        var target = parsedTarget
        if target.utf8.count > limits.maxURIBytes { throw .uriTooLong }

        var headers = HTTPFields()
        headers.reserveCapacity(8)
        // The few fields the codec itself reads, gathered while parsing (no lookups afterwards).
        var known = KnownFields()
        var position = lineEnd + 2
        while true {
            if position - start > limits.maxHeaderBytes { throw .headersTooLarge }
            guard let end = try findLineEnd(bytes, from: position, limit: limits.maxHeaderBytes) else {
                if bytes.count - start > limits.maxHeaderBytes { throw .headersTooLarge }
                return .incomplete
            }
            if end == position {
                position += 2
                break
            }
            if headers.count >= limits.maxHeaderCount { throw .tooManyHeaders }
            let (field, kind) = try parseField(bytes, position, end)
            known.note(kind, field.value)
            headers.append(field)
            position = end + 2
        }
        if position - start > limits.maxHeaderBytes { throw .headersTooLarge }

        let framing = try framing(of: known, version: version)
        if version == .http1_1, known.hostCount != 1 {
            throw .badRequest(known.hostCount == 0 ? "missing Host" : "more than one Host")
        }
        if known.hostCount > 1 { throw .badRequest("more than one Host") }
        if target.hasPrefix("http://") || target.hasPrefix("https://") {
            target = try originForm(fromAbsolute: target, headers: &headers)
        } else if !(target.hasPrefix("/") || (target == "*" && method == .options)) {
            throw .badRequest("invalid request target")
        }

        let keepAlive: Bool
        if known.connection.isEmpty {
            keepAlive = version != .http1_0
        } else {
            let connection = Self.list(known.connection)
            if connection.contains(where: { $0.equalsIgnoringASCIICase("close") }) {
                keepAlive = false
            } else if version == .http1_0 {
                keepAlive = connection.contains { $0.equalsIgnoringASCIICase("keep-alive") }
            } else {
                keepAlive = true
            }
        }
        var expectsContinue = false
        if let expect = known.expect {
            guard expect.equalsIgnoringASCIICase("100-continue") else { throw .expectationFailed }
            expectsContinue = version == .http1_1
        }
        let head = HTTP1RequestHead(method: method, target: target, version: version, headers: headers, framing: framing,
                                    keepAlive: keepAlive, expectsContinue: expectsContinue)
        return .head(head, consumed: position)
    }

    /// The index of the CR of the next CRLF at or after `from`. Throws on a bare CR, a bare LF or NUL.
    private func findLineEnd(_ bytes: UnsafeRawBufferPointer, from: Int, limit: Int) throws(HTTP1ParseError) -> Int? {
        var i = from
        let count = bytes.count
        while i < count {
            let byte = bytes[i]
            if byte == 0x0D {
                guard i + 1 < count else { return nil }
                guard bytes[i + 1] == 0x0A else { throw .badRequest("bare CR") }
                return i
            }
            if byte == 0x0A { throw .badRequest("bare LF") }
            if byte == 0 { throw .badRequest("NUL in request head") }
            i += 1
        }
        return nil
    }

    private func parseRequestLine(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws(HTTP1ParseError)
        -> (HTTPMethod, String, HTTPVersion) {
        var firstSpace = -1
        var secondSpace = -1
        for i in start..<end where bytes[i] == 0x20 {
            if firstSpace < 0 { firstSpace = i } else if secondSpace < 0 { secondSpace = i } else { throw .badRequest("malformed request line") }
        }
        guard firstSpace > start, secondSpace > firstSpace + 1, secondSpace < end - 1 else { throw .badRequest("malformed request line") }
        for i in start..<firstSpace where !Self.isTokenByte(bytes[i]) { throw .badRequest("invalid method") }
        for i in (firstSpace + 1)..<secondSpace {
            let byte = bytes[i]
            if byte <= 0x20 || byte == 0x7F { throw .badRequest("invalid character in request target") }
        }
        let versionBytes = UnsafeRawBufferPointer(rebasing: bytes[(secondSpace + 1)..<end])
        let version: HTTPVersion
        if versionBytes.elementsEqual("HTTP/1.1".utf8) {
            version = .http1_1
        } else if versionBytes.elementsEqual("HTTP/1.0".utf8) {
            version = .http1_0
        } else if versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8), Self.isDigit(versionBytes[5]),
                  versionBytes[6] == UInt8(ascii: "."), Self.isDigit(versionBytes[7]) {
            throw .versionNotSupported
        } else {
            throw .badRequest("malformed HTTP version")
        }
        let method = HTTPMethod(rawValue: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<firstSpace]), as: UTF8.self))
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(firstSpace + 1)..<secondSpace]), as: UTF8.self)
        return (method, target, version)
    }

    /// The request fields the codec reads itself, recognised by their bytes as they are parsed.
    enum FieldKind {
        case host, contentLength, transferEncoding, connection, expect, other
    }

    /// What those fields said, in order; arrays only for fields a request actually has.
    struct KnownFields {
        var hostCount = 0
        var contentLengths: [String] = []
        var transferEncodings: [String] = []
        var connection: [String] = []
        /// The first Expect value.
        var expect: String?

        mutating func note(_ kind: FieldKind, _ value: String) {
            switch kind {
            case .host: hostCount += 1
            case .contentLength: contentLengths.append(value)
            case .transferEncoding: transferEncodings.append(value)
            case .connection: connection.append(value)
            case .expect: if expect == nil { expect = value }
            case .other: break
            }
        }
    }

    /// Which known field `name` (token bytes) is, ignoring ASCII case; the length decides first.
    static func fieldKind(_ name: UnsafeRawBufferPointer) -> FieldKind {
        func named(_ lower: StaticString) -> Bool {
            let expected = UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
            for i in 0..<expected.count where name[i] | 0x20 != expected[i] { return false }
            return true
        }
        // `| 0x20` lowercases a letter; of the other bytes it maps onto a lower-case letter or `-`
        // none is a token byte, so only the name itself, in any case, compares equal.
        switch name.count {
        case 4: return named("host") ? .host : .other
        case 6: return named("expect") ? .expect : .other
        case 10: return named("connection") ? .connection : .other
        case 14: return named("content-length") ? .contentLength : .other
        case 17: return named("transfer-encoding") ? .transferEncoding : .other
        default: return .other
        }
    }

    private func parseField(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws(HTTP1ParseError) -> (HTTPField, FieldKind) {
        let first = bytes[start]
        if first == 0x20 || first == 0x09 { throw .badRequest("obsolete line folding") }
        var colon = -1
        for i in start..<end {
            let byte = bytes[i]
            if byte == UInt8(ascii: ":") {
                colon = i
                break
            }
            // RFC 9112 §5.1: no whitespace between the field name and the colon.
            guard Self.isTokenByte(byte) else { throw .badRequest("invalid header field name") }
        }
        guard colon > start else { throw .badRequest("invalid header field") }
        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
        while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
        for i in valueStart..<valueEnd {
            let byte = bytes[i]
            if (byte < 0x20 && byte != 0x09) || byte == 0x7F { throw .badRequest("control character in header field") }
        }
        let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[start..<colon])
        let name = String(decoding: nameBytes, as: UTF8.self)
        let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self)
        return (HTTPField(name: name, value: value), Self.fieldKind(nameBytes))
    }

    /// Every comma-separated element of `values`, trimmed, empty ones left out (RFC 9110 §5.6.1),
    /// as `HTTPFields.list` gives them.
    static func list(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingASCIIWhitespace() }
            .filter { !$0.isEmpty }
    }

    private func framing(of known: KnownFields, version: HTTPVersion) throws(HTTP1ParseError) -> BodyFraming {
        let lengths = known.contentLengths
        if !known.transferEncodings.isEmpty {
            // RFC 9112 §6.1: a message with both is a smuggling attempt; refuse and close.
            guard lengths.isEmpty else { throw .badRequest("both Content-Length and Transfer-Encoding") }
            guard version == .http1_1 else { throw .badRequest("Transfer-Encoding in HTTP/1.0") }
            let codings = Self.list(known.transferEncodings)
            guard let last = codings.last, last.equalsIgnoringASCIICase("chunked") else {
                throw .badRequest("Transfer-Encoding without final chunked")
            }
            guard codings.count == 1 else { throw .notImplemented("transfer coding \(codings[0])") }
            return .chunked
        }
        guard !lengths.isEmpty else { return .none }
        var value: Int?
        for field in lengths {
            for element in field.split(separator: ",", omittingEmptySubsequences: false) {
                let text = element.trimmingASCIIWhitespace()
                guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy(Self.isDigit), let number = Int(text) else {
                    throw .badRequest("invalid Content-Length")
                }
                if let value, value != number { throw .badRequest("conflicting Content-Length") }
                value = number
            }
        }
        return value == 0 ? .none : .contentLength(value!)
    }

    /// `http://host/path` (absolute form, RFC 9112 §3.2.2): the Host header is replaced by the target's authority.
    private func originForm(fromAbsolute target: String, headers: inout HTTPFields) throws(HTTP1ParseError) -> String {
        let afterScheme = target.drop { $0 != ":" }.dropFirst(3)
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
        let authority = String(afterScheme[..<authorityEnd])
        guard !authority.isEmpty, !authority.contains("@") else { throw .badRequest("invalid absolute target") }
        headers["Host"] = authority
        let rest = String(afterScheme[authorityEnd...])
        return rest.hasPrefix("/") ? rest : "/" + rest
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }
}
