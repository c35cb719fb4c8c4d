/// A parsed response head from an upstream.
struct HTTP1ResponseHead: Equatable {
    var status: HTTPStatus
    var headers: HTTPFields
    var framing: Framing
    /// Whether the connection can carry another request afterwards.
    var keepAlive: Bool

    enum Framing: Equatable {
        case none
        case contentLength(Int)
        case chunked
        /// Until the server closes (HTTP/1.0 style).
        case untilClose
    }
}

/// Parses upstream response heads with the same strictness as requests: a response that could be
/// framed two ways (Content-Length with Transfer-Encoding, conflicting lengths) is refused rather
/// than guessed, so a hostile upstream cannot desynchronise a pooled connection.
struct HTTP1ResponseParser {
    var maxHeadBytes = 64 * 1024
    var maxHeaderCount = 200

    enum Result: Equatable {
        case incomplete
        case head(HTTP1ResponseHead, consumed: Int)
    }

    func parse(_ bytes: UnsafeRawBufferPointer, requestMethod: HTTPMethod) throws(ClientError) -> Result {
        guard let headEnd = Self.find(bytes, "\r\n\r\n") else {
            if bytes.count > maxHeadBytes { throw .badResponse("response head too large") }
            return .incomplete
        }
        if headEnd > maxHeadBytes { throw .badResponse("response head too large") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<headEnd]), as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst()
        guard statusLine.hasPrefix("HTTP/1.1 ") || statusLine.hasPrefix("HTTP/1.0 "), statusLine.utf8.count >= 12 else {
            throw .badResponse("malformed status line")
        }
        let isHTTP10 = statusLine.hasPrefix("HTTP/1.0")
        let codeText = statusLine.dropFirst(9).prefix(3)
        guard codeText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let code = Int(codeText), (100...599).contains(code) else {
            throw .badResponse("malformed status code")
        }
        var headers = HTTPFields()
        for line in lines {
            guard !line.isEmpty else { continue }
            if line.first == " " || line.first == "\t" { throw .badResponse("obsolete line folding") }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { throw .badResponse("malformed header") }
            let name = line[..<colon]
            guard name.utf8.allSatisfy(HTTP1Parser.isTokenByte) else { throw .badResponse("malformed header name") }
            let value = line[line.index(after: colon)...].trimmingASCIIWhitespace()
            guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else { throw .badResponse("control character in header") }
            headers.append(String(name), value)
            if headers.count > maxHeaderCount { throw .badResponse("too many headers") }
        }
        let status = HTTPStatus(code)
        var keepAlive = !isHTTP10
        let connection = headers.list("Connection")
        if connection.contains(where: { $0.equalsIgnoringASCIICase("close") }) { keepAlive = false }
        if isHTTP10, connection.contains(where: { $0.equalsIgnoringASCIICase("keep-alive") }) { keepAlive = true }

        let framing: HTTP1ResponseHead.Framing
        let lengths = headers.values("Content-Length")
        if requestMethod == .head || code < 200 || code == 204 || code == 304 {
            framing = .none
        } else if headers.contains("Transfer-Encoding") {
            guard lengths.isEmpty else { throw .badResponse("both Content-Length and Transfer-Encoding") }
            guard let last = headers.list("Transfer-Encoding").last, last.equalsIgnoringASCIICase("chunked") else {
                framing = .untilClose
                keepAlive = false
                return .head(HTTP1ResponseHead(status: status, headers: headers, framing: framing, keepAlive: keepAlive), consumed: headEnd + 4)
            }
            framing = .chunked
        } else if !lengths.isEmpty {
            var length: Int?
            for element in lengths.flatMap({ $0.split(separator: ",") }) {
                let text = element.trimmingASCIIWhitespace()
                guard text.utf8.count <= 18, let number = Int(text), number >= 0 else { throw .badResponse("invalid Content-Length") }
                if let length, length != number { throw .badResponse("conflicting Content-Length") }
                length = number
            }
            framing = length == 0 ? .none : .contentLength(length!)
        } else {
            framing = .untilClose
            keepAlive = false
        }
        return .head(HTTP1ResponseHead(status: status, headers: headers, framing: framing, keepAlive: keepAlive), consumed: headEnd + 4)
    }

    static func find(_ bytes: UnsafeRawBufferPointer, _ needle: StaticString) -> Int? {
        let pattern = needle.withUTF8Buffer { Array($0) }
        guard bytes.count >= pattern.count else { return nil }
        var i = 0
        while i <= bytes.count - pattern.count {
            if bytes[i] == pattern[0] {
                var j = 1
                while j < pattern.count, bytes[i + j] == pattern[j] { j += 1 }
                if j == pattern.count { return i }
            }
            i += 1
        }
        return nil
    }
}
