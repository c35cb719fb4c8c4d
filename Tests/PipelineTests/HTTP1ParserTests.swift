import Testing
@testable import Pipeline

/// Parses `text` (as bytes) with `limits`.
func parseHead(_ text: String, limits: HTTPLimits = HTTPLimits()) throws(HTTP1ParseError) -> HTTP1Parser.Result {
    try parseHead(Array(text.utf8), limits: limits)
}

func parseHead(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) throws(HTTP1ParseError) -> HTTP1Parser.Result {
    let parser = HTTP1Parser(limits: limits)
    let result = bytes.withUnsafeBytes { raw in Result { () throws(HTTP1ParseError) in try parser.parse(raw) } }
    return try result.get()
}

/// The head, or nil when the parser wants more bytes.
func head(_ text: String, limits: HTTPLimits = HTTPLimits()) throws(HTTP1ParseError) -> (HTTP1RequestHead, Int)? {
    guard case .head(let head, let consumed) = try parseHead(text, limits: limits) else { return nil }
    return (head, consumed)
}

/// The error the parser throws for `text`, or nil when it accepts it.
func parseError(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTP1ParseError? {
    do {
        _ = try parseHead(text, limits: limits)
        return nil
    } catch {
        return error
    }
}

@Suite("HTTP/1.1 request heads")
struct HTTP1ParserTests {
    @Test("a GET head: request line, fields in order with duplicates, keep-alive by default")
    func simpleGet() throws {
        let text = "GET /v1/modules?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Dup: a\r\nx-dup: b\r\n\r\n"
        let (head, consumed) = try #require(try head(text))
        #expect(consumed == text.utf8.count)
        #expect(head.method == .get)
        #expect(head.target == "/v1/modules?x=1")
        #expect(head.version == .http1_1)
        #expect(head.headers.map(\.name) == ["Host", "Accept", "X-Dup", "x-dup"])
        #expect(head.headers.values("x-DUP") == ["a", "b"])
        #expect(head.headers["host"] == "example.com")
        #expect(head.framing == .none)
        #expect(head.keepAlive)
        #expect(!head.expectsContinue)
    }

    @Test("every proper prefix of a head is incomplete, never an error or a shorter head")
    func prefixesAreIncomplete() throws {
        let bytes = Array("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX: y z\r\n\r\n".utf8)
        for length in 0..<bytes.count {
            #expect(try parseHead(Array(bytes[..<length])) == .incomplete, "prefix of \(length) bytes")
        }
        guard case .head(_, let consumed) = try parseHead(bytes) else {
            Issue.record("no head")
            return
        }
        #expect(consumed == bytes.count)
    }

    @Test("pipelined heads: each consumes exactly its own bytes, in order")
    func pipelined() throws {
        let first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
        let second = "GET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        let third = "HEAD /c HTTP/1.1\r\nHost: a\r\n\r\n"
        var rest = Array((first + second + third).utf8)
        var targets: [String] = []
        var keepAlive: [Bool] = []
        while !rest.isEmpty {
            guard case .head(let head, let consumed) = try parseHead(rest) else {
                Issue.record("incomplete with \(rest.count) bytes left")
                return
            }
            targets.append(head.target)
            keepAlive.append(head.keepAlive)
            rest.removeFirst(consumed)
        }
        #expect(targets == ["/a", "/b", "/c"])
        #expect(keepAlive == [true, false, true])
    }

    @Test("a head followed by its body consumes only the head")
    func bodyNotConsumed() throws {
        let text = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        let (head, consumed) = try #require(try head(text))
        #expect(head.framing == .contentLength(5))
        #expect(consumed == text.utf8.count - 5)
    }

    @Test("empty lines before the request line are ignored (RFC 9112 §2.2)")
    func leadingEmptyLines() throws {
        let (head, consumed) = try #require(try head("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(head.target == "/")
        #expect(consumed == 29)
    }

    @Test("Connection handling for HTTP/1.0 and HTTP/1.1")
    func connectionTokens() throws {
        #expect(try #require(try head("GET / HTTP/1.0\r\n\r\n")).0.keepAlive == false)
        #expect(try #require(try head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")).0.keepAlive)
        #expect(try #require(try head("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")).0.keepAlive == false)
        #expect(try #require(try head("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n")).0.keepAlive)
        #expect(try #require(try head("GET / HTTP/1.0\r\n\r\n")).0.version == .http1_0)
    }

    @Test("Content-Length and chunked framing")
    func framing() throws {
        #expect(try #require(try head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n")).0.framing == .contentLength(42))
        #expect(try #require(try head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")).0.framing == .none)
        #expect(try #require(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")).0.framing == .chunked)
        #expect(try #require(try head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")).0.framing == .chunked)
        // Identical repeats of one length are the same length (RFC 9112 §6.3 item 5).
        #expect(try #require(try head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7, 7\r\n\r\n")).0.framing
            == .contentLength(7))
    }

    @Test("Expect: 100-continue is noted on HTTP/1.1 and ignored on HTTP/1.0")
    func expectContinue() throws {
        #expect(try #require(try head("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")).0.expectsContinue)
        #expect(try #require(try head("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")).0.expectsContinue == false)
        #expect(parseError("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n") == .expectationFailed)
    }

    @Test("absolute-form targets become origin-form and their authority replaces Host (RFC 9112 §3.2.2)")
    func absoluteForm() throws {
        let (absolute, _) = try #require(try head("GET http://registry.example:8443/v1/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n"))
        #expect(absolute.target == "/v1/x?y=1")
        #expect(absolute.headers.values("Host") == ["registry.example:8443"])
        let (bare, _) = try #require(try head("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        #expect(bare.target == "/")
        #expect(parseError("GET http://user@evil/ HTTP/1.1\r\nHost: a\r\n\r\n") == .badRequest("invalid absolute target"))
    }

    @Test("asterisk-form only for OPTIONS")
    func asteriskForm() throws {
        #expect(try #require(try head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")).0.target == "*")
        #expect(parseError("GET * HTTP/1.1\r\nHost: a\r\n\r\n") == .badRequest("invalid request target"))
        #expect(parseError("GET index.html HTTP/1.1\r\nHost: a\r\n\r\n") == .badRequest("invalid request target"))
    }

    /// Request smuggling and malformed framing (RFC 9112 §2.2, §5, §6): each is a 400 (or 501) and
    /// the connection closes.
    static let framingAttacks: [(String, String, HTTP1ParseError)] = [
        ("CL and TE together", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
         .badRequest("both Content-Length and Transfer-Encoding")),
        ("TE and CL together", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
         .badRequest("both Content-Length and Transfer-Encoding")),
        ("differing duplicate CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
         .badRequest("conflicting Content-Length")),
        ("differing CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 40\r\n\r\n", .badRequest("conflicting Content-Length")),
        ("signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n", .badRequest("invalid Content-Length")),
        ("negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", .badRequest("invalid Content-Length")),
        ("hex CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", .badRequest("invalid Content-Length")),
        ("empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", .badRequest("invalid Content-Length")),
        ("CL with inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", .badRequest("invalid Content-Length")),
        ("huge CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", .badRequest("invalid Content-Length")),
        ("TE not ending in chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
         .badRequest("Transfer-Encoding without final chunked")),
        ("TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
         .badRequest("Transfer-Encoding without final chunked")),
        ("TE with a space-folded token", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
         .badRequest("Transfer-Encoding without final chunked")),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest("Transfer-Encoding in HTTP/1.0")),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n", .badRequest("obsolete line folding")),
        ("obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n", .badRequest("obsolete line folding")),
        ("folded first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", .badRequest("obsolete line folding")),
        ("bare CR in a value", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", .badRequest("bare CR")),
        ("bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", .badRequest("bare CR")),
        ("bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", .badRequest("bare LF")),
        ("bare LF after a field", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", .badRequest("bare LF")),
        ("NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\u{0}c\r\n\r\n", .badRequest("NUL in request head")),
        ("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: a\r\n\r\n", .badRequest("NUL in request head")),
        ("control character in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\u{1}c\r\n\r\n", .badRequest("control character in header field")),
        ("DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\u{7F}c\r\n\r\n", .badRequest("control character in header field")),
        ("space before the colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", .badRequest("invalid header field name")),
        ("no colon", "GET / HTTP/1.1\r\nHost: a\r\nJustAName\r\n\r\n", .badRequest("invalid header field")),
        ("empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: value\r\n\r\n", .badRequest("invalid header field")),
        ("missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", .badRequest("missing Host")),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .badRequest("more than one Host")),
        ("two Hosts in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", .badRequest("more than one Host")),
        ("no version", "GET /\r\nHost: a\r\n\r\n", .badRequest("malformed request line")),
        ("double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .badRequest("malformed request line")),
        ("extra word", "GET / HTTP/1.1 now\r\nHost: a\r\n\r\n", .badRequest("malformed request line")),
        ("bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .badRequest("invalid method")),
        ("tab in the target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", .badRequest("invalid character in request target")),
        ("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", .badRequest("malformed HTTP version")),
        ("HTTP/2.0 on HTTP/1", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .versionNotSupported),
        ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .versionNotSupported),
        ("a transfer coding we do not decode", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         .notImplemented("transfer coding gzip")),
    ]

    @Test("framing attacks and malformed heads are refused", arguments: framingAttacks.indices)
    func framingAttack(_ index: Int) {
        let (name, text, expected) = Self.framingAttacks[index]
        #expect(parseError(text) == expected, "\(name)")
    }

    @Test("parse errors map to the statuses clients see")
    func statuses() {
        #expect(HTTP1ParseError.badRequest("x").status.code == 400)
        #expect(HTTP1ParseError.uriTooLong.status.code == 414)
        #expect(HTTP1ParseError.headersTooLarge.status.code == 431)
        #expect(HTTP1ParseError.tooManyHeaders.status.code == 431)
        #expect(HTTP1ParseError.versionNotSupported.status.code == 505)
        #expect(HTTP1ParseError.notImplemented("x").status.code == 501)
    }

    @Test("header bytes over 64 KiB are refused with 431, whether or not the head is complete")
    func headerBytesLimit() {
        let field = "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n"
        let big = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: field, count: 70)
        #expect(parseError(big + "\r\n") == .headersTooLarge)
        #expect(parseError(big) == .headersTooLarge)
        // One line longer than the limit, with no end in sight.
        #expect(parseError("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 70_000)) == .headersTooLarge)
        // Just under the limit is fine.
        let fits = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: field, count: 60) + "\r\n"
        #expect(parseError(fits) == nil)
    }

    @Test("more than 100 header fields are refused with 431; 100 are fine")
    func headerCountLimit() {
        let hundred = (1...99).map { "X-\($0): v\r\n" }.joined()
        #expect(parseError("GET / HTTP/1.1\r\nHost: a\r\n" + hundred + "\r\n") == nil)
        #expect(parseError("GET / HTTP/1.1\r\nHost: a\r\n" + hundred + "X-100: v\r\n\r\n") == .tooManyHeaders)
    }

    @Test("targets over 8 KiB are refused with 414, whether or not the line is complete")
    func uriLimit() {
        let long = "/" + String(repeating: "a", count: 8 * 1024)
        #expect(parseError("GET \(long) HTTP/1.1\r\nHost: a\r\n\r\n") == .uriTooLong)
        #expect(parseError("GET \(long)\(String(repeating: "b", count: 100))") == .uriTooLong)
        let fits = "/" + String(repeating: "a", count: 8 * 1024 - 1)
        #expect(parseError("GET \(fits) HTTP/1.1\r\nHost: a\r\n\r\n") == nil)
    }

    @Test("limits are configurable")
    func customLimits() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 2
        limits.maxURIBytes = 10
        limits.maxHeaderBytes = 100
        #expect(parseError("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits) == .tooManyHeaders)
        #expect(parseError("GET /0123456789 HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits) == .uriTooLong)
        #expect(parseError("GET / HTTP/1.1\r\nHost: a\r\nA: \(String(repeating: "x", count: 100))\r\n\r\n", limits: limits) == .headersTooLarge)
        #expect(parseError("GET /012345678 HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n", limits: limits) == nil)
    }
}
