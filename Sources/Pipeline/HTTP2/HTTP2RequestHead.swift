/// The head of one HTTP/2 request while its header block arrives: pseudo-header fields become the
/// request line, the rest become `HTTPFields`. The decoded size is counted the way
/// SETTINGS_MAX_HEADER_LIST_SIZE counts it (name + value + 32 per field, RFC 9113 §6.5.2), so a
/// small block that decodes into megabytes (an HPACK bomb) stops being stored once over the limit.
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
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Whether the decoded header list passed the limit (the request is answered with 431).
    var isTooLarge: Bool { listBytes > limit }

    mutating func add(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        listBytes += name.count + value.count + 32
        if isTooLarge {
            fields = []
            cookies = []
            return
        }
        let text = String(decoding: value, as: UTF8.self)
        if name.first == UInt8(ascii: ":") {
            switch String(decoding: name, as: UTF8.self) {
            case ":method": method = text
            case ":scheme": scheme = text
            case ":authority": authority = text
            case ":path": path = text
            default: break
            }
            return
        }
        // Cookie crumbs are joined again for everything downstream (RFC 9113 §8.2.3).
        if name.elementsEqual("cookie".utf8) {
            cookies.append(text)
            return
        }
        fields.append(HTTPField(name: String(decoding: name, as: UTF8.self), value: text))
    }

    /// The request value every codec produces. `scheme` is the connection's (a client on a plain
    /// connection cannot claim https); `:authority` wins over `host` (RFC 9113 §8.3.1).
    func request(scheme: String, body: IncomingBody) -> Request {
        var headers = HTTPFields(fields)
        if !cookies.isEmpty { headers.append("cookie", cookies.joined(separator: "; ")) }
        let (path, query) = Request.split(target: self.path)
        return Request(method: HTTPMethod(rawValue: method), scheme: scheme, authority: authority.isEmpty ? headers["host"] ?? "" : authority,
                       path: path, query: query, headers: headers, body: body, version: .http2)
    }
}
