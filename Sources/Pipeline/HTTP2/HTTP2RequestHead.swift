/// The head of one HTTP/2 request while its header block arrives: pseudo-header fields become the
/// request line, the rest become `HTTPFields`. The decoded size is counted the way
/// SETTINGS_MAX_HEADER_LIST_SIZE counts it (name + value + 32 per field, RFC 9113 §6.5.2), so a
/// small block that decodes into megabytes (an HPACK bomb) stops being stored once over the limit.
/// The listener's `limits` hold here as they do over HTTP/1.1 (docs/security.md): `:path` longer
/// than `maxURIBytes` is refused with 414, more than `maxHeaderCount` fields (`:authority`
/// counting as Host would) or more than
/// `maxHeaderBytes` (name + value + 4 per field, as the fields would be written in HTTP/1.1) with 431.
/// nghttp2 has already checked the messaging rules (RFC 9113 §8.3): lower-case names, required
/// and unique pseudo-fields, no connection-specific fields.
struct HTTP2RequestHead {
    var method = ""
    var scheme = ""
    var authority = ""
    var path = ""
    var fields: [HTTPField] = []
    var cookies: [String] = []
    private(set) var listBytes = 0
    /// The same list counted as HTTP/1.1 lines (`maxHeaderBytes`).
    private(set) var lineBytes = 0
    /// Fields that are not pseudo-fields, and `:authority`, which stands for HTTP/1.1's Host
    /// (`maxHeaderCount`); each cookie crumb counts.
    private(set) var fieldCount = 0
    /// Why the request is refused, the first limit it passed; the fields are no longer kept.
    private(set) var refusal: HTTP1ParseError?
    let limit: Int
    let limits: HTTPLimits

    init(limit: Int, limits: HTTPLimits = HTTPLimits()) {
        self.limit = limit
        self.limits = limits
    }

    /// Whether the decoded header list passed the limit (the request is answered with 431).
    var isTooLarge: Bool { listBytes > limit }

    /// Adds one decoded field. Returns how many of its bytes were decoded for a list that was
    /// already refused: work the connection charges to its client's budget (HPACK bombs).
    @discardableResult
    mutating func add(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Int {
        let size = name.count + value.count + 32
        listBytes += size
        lineBytes += name.count + value.count + 4
        let isPseudo = name.first == UInt8(ascii: ":")
        if !isPseudo || Self.equals(name, ":authority") { fieldCount += 1 }
        if refusal != nil { return size }
        // As over HTTP/1.1, the target is measured as the text it decodes to (invalid UTF-8
        // becomes U+FFFD, three bytes), so the path kept is never longer than the limit.
        if isPseudo, value.count > limits.maxURIBytes / 3, Self.equals(name, ":path"),
           String(decoding: value, as: UTF8.self).utf8.count > limits.maxURIBytes {
            refuse(.uriTooLong)
        } else if isTooLarge || lineBytes > limits.maxHeaderBytes {
            refuse(.headersTooLarge)
        } else if fieldCount > limits.maxHeaderCount {
            refuse(.tooManyHeaders)
        }
        if refusal != nil { return 0 }
        let text = String(decoding: value, as: UTF8.self)
        if isPseudo {
            // Told apart by their bytes: no string for the name.
            if Self.equals(name, ":path") {
                path = text
            } else if Self.equals(name, ":method") {
                method = text
            } else if Self.equals(name, ":scheme") {
                scheme = text
            } else if Self.equals(name, ":authority") {
                authority = text
            }
            return 0
        }
        // Cookie crumbs are joined again for everything downstream (RFC 9113 §8.2.3).
        if Self.equals(name, "cookie") {
            cookies.append(text)
            return 0
        }
        fields.append(HTTPField(name: String(decoding: name, as: UTF8.self), value: text))
        return 0
    }

    /// Whether `name` is `literal`, byte for byte (nghttp2 has checked names are lower-case).
    @inline(__always)
    static func equals(_ name: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard name.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for index in 0..<name.count where name[index] != expected[index] { return false }
        return true
    }

    private mutating func refuse(_ reason: HTTP1ParseError) {
        refusal = reason
        fields = []
        cookies = []
        path = ""
    }
}
