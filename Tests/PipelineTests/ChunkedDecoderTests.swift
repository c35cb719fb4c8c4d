import Testing
@testable import Pipeline

/// What decoding a whole chunked body produced.
struct Decoded: Equatable {
    var body: String
    /// Bytes used up to and including the end of the trailers; nil when the end was not reached.
    var endsAt: Int?
}

/// Feeds `text` to a decoder `piece` bytes at a time, keeping unconsumed bytes as the body reader does.
func decodeChunked(_ text: String, piece: Int = .max, lineLimit: Int = 8 * 1024) throws(HTTP1ParseError) -> Decoded {
    let bytes = Array(text.utf8)
    var decoder = ChunkedDecoder(lineLimit: lineLimit)
    var body: [UInt8] = []
    var pending: [UInt8] = []
    var used = 0
    var fed = 0
    while fed < bytes.count || !pending.isEmpty {
        let more = min(piece, bytes.count - fed)
        pending += bytes[fed..<(fed + more)]
        fed += more
        while !pending.isEmpty {
            let result = pending.withUnsafeBytes { raw in Result { () throws(HTTP1ParseError) in try decoder.decode(raw) } }
            let (consumed, event) = try result.get()
            switch event {
            case .data(let range): body += pending[range]
            case .end: return Decoded(body: String(decoding: body, as: UTF8.self), endsAt: used + consumed)
            case nil: break
            }
            used += consumed
            pending.removeFirst(consumed)
            if event == nil { break }
        }
        if more == 0 { break }
    }
    return Decoded(body: String(decoding: body, as: UTF8.self), endsAt: nil)
}

func chunkedError(_ text: String, lineLimit: Int = 8 * 1024) -> HTTP1ParseError? {
    do {
        _ = try decodeChunked(text, lineLimit: lineLimit)
        return nil
    } catch {
        return error
    }
}

@Suite("chunked request bodies (RFC 9112 §7.1)")
struct ChunkedDecoderTests {
    static let wiki = "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"

    @Test("decodes a body and stops right after the last chunk")
    func wholeBody() throws {
        let decoded = try decodeChunked(Self.wiki + "GET /next HTTP/1.1\r\n")
        #expect(decoded == Decoded(body: "Wikipedia in\r\n\r\nchunks.", endsAt: Self.wiki.utf8.count))
    }

    @Test("gives the same bytes however the input is split", arguments: [1, 2, 3, 5, 7, 16])
    func split(piece: Int) throws {
        #expect(try decodeChunked(Self.wiki, piece: piece) == decodeChunked(Self.wiki))
    }

    @Test("upper- and lower-case hex sizes, leading zeros")
    func hexSizes() throws {
        let a = String(repeating: "a", count: 26)
        #expect(try decodeChunked("1A\r\n\(a)\r\n0\r\n\r\n").body == a)
        #expect(try decodeChunked("1a\r\n\(a)\r\n0\r\n\r\n").body == a)
        #expect(try decodeChunked("0003\r\nabc\r\n000\r\n\r\n").body == "abc")
    }

    @Test("chunk extensions are read and ignored")
    func extensions() throws {
        #expect(try decodeChunked("3;name=value\r\nabc\r\n2 ; x\r\nde\r\n0;last\r\n\r\n").body == "abcde")
    }

    @Test("trailer fields are read and dropped")
    func trailers() throws {
        let text = "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other: y\r\n\r\n"
        #expect(try decodeChunked(text) == Decoded(body: "abc", endsAt: text.utf8.count))
    }

    @Test("an incomplete body is not an end")
    func incomplete() throws {
        #expect(try decodeChunked("5\r\nhel").endsAt == nil)
        #expect(try decodeChunked("5\r\nhello\r\n0\r\n").endsAt == nil)
    }

    static let invalid: [(String, String, HTTP1ParseError)] = [
        ("non-hex size", "g\r\nx\r\n0\r\n\r\n", .badRequest("invalid chunk size")),
        ("empty size line", "\r\nabc\r\n", .badRequest("invalid chunk size")),
        ("negative size", "-1\r\nx\r\n", .badRequest("invalid chunk size")),
        ("0x prefix", "0x5\r\nhello\r\n", .badRequest("invalid chunk size")),
        ("space after the size without an extension", "5 \r\nhello\r\n", .badRequest("invalid chunk size")),
        ("size over 60 bits", "1000000000000000\r\n", .badRequest("chunk size too large")),
        ("size that would overflow", "ffffffffffffffffff\r\n", .badRequest("chunk size too large")),
        ("data longer than its size", "3\r\nabcd\r\n0\r\n\r\n", .badRequest("missing CRLF after chunk data")),
        ("bare LF after the size", "3\nabc\r\n0\r\n\r\n", .badRequest("bare LF")),
        ("bare CR after the size", "3\rabc\r\n", .badRequest("bare CR")),
        ("NUL in a size line", "3;\u{0}\r\nabc\r\n", .badRequest("NUL in chunk line")),
        ("obs-fold in the trailers", "0\r\nX: a\r\n b\r\n\r\n", .badRequest("obsolete line folding")),
        ("size line too long", "3;" + String(repeating: "e", count: 9000) + "\r\n", .badRequest("chunk line too long")),
    ]

    @Test("invalid chunk framing is refused", arguments: invalid.indices)
    func invalidFraming(_ index: Int) {
        let (name, text, expected) = Self.invalid[index]
        #expect(chunkedError(text) == expected, "\(name)")
    }

    @Test("trailers are capped")
    func trailerCap() {
        let trailers = (0..<20).map { "X-T\($0): " + String(repeating: "v", count: 50) + "\r\n" }.joined()
        #expect(chunkedError("0\r\n" + trailers + "\r\n", lineLimit: 512) == .headersTooLarge)
    }

    @Test("a size that does not fit the remaining input leaves the rest for later reads")
    func largeChunkStreams() throws {
        var decoder = ChunkedDecoder()
        let first = Array("10\r\n0123456789".utf8)
        let (used, event) = try first.withUnsafeBytes { try decoder.decode($0) }
        #expect(used == first.count)
        #expect(event == .data(4..<14))
        let second = Array("abcdef\r\n0\r\n\r\n".utf8)
        let (used2, event2) = try second.withUnsafeBytes { try decoder.decode($0) }
        #expect(event2 == .data(0..<6))
        #expect(used2 == 6)
        #expect(!decoder.isDone)
    }
}
