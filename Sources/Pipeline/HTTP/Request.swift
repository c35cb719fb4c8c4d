/// A request head and its streamed body: the value every middleware sees.
///
/// `path` is the raw path of the request target (percent-encoding intact) and `query` what follows
/// `?`, if anything. Use `decodedPath` where a file name or route parameter is wanted.
public struct Request: Sendable {
    public var method: HTTPMethod
    public var scheme: String
    /// Host and optional port from `Host` (HTTP/1.1) or `:authority` (HTTP/2).
    public var authority: String
    public var path: String
    public var query: String?
    public var headers: HTTPFields
    public var body: IncomingBody
    public var version: HTTPVersion
    /// Set by a behaviour that turned a client request into an upstream request (a GitHub tarball,
    /// a release asset): `upstream` then fetches exactly this URL with these options.
    public var upstream: UpstreamOptions?

    public init(method: HTTPMethod = .get, scheme: String = "http", authority: String = "", path: String,
                query: String? = nil, headers: HTTPFields = [:], body: IncomingBody = .empty,
                version: HTTPVersion = .http1_1) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.version = version
    }

    /// Parses an origin-form target (`/a/b?x=1`).
    public init(method: HTTPMethod = .get, target: String, headers: HTTPFields = [:], body: IncomingBody = .empty) {
        let (path, query) = Request.split(target: target)
        self.init(method: method, authority: headers["Host"] ?? "", path: path, query: query, headers: headers, body: body)
    }

    /// The target as sent on the wire: path plus `?query`.
    public var target: String {
        guard let query else { return path }
        return path + "?" + query
    }

    /// The host without its port, lowercased.
    public var host: String {
        var host = Substring(authority)
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<end]).lowercasedASCII()
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        return host.lowercasedASCII()
    }

    /// The path with percent-escapes decoded, or nil when the escapes are malformed or decode to
    /// bytes that are not UTF-8 or include NUL.
    public var decodedPath: String? { PercentEncoding.decode(path) }

    /// Query parameters in order, decoded (`+` as space, as forms send them).
    public var queryItems: [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentEncoding.decode(parts[0].replacing("+", with: " ")) ?? String(parts[0])
            let raw = parts.count > 1 ? String(parts[1]) : ""
            let value = PercentEncoding.decode(raw.replacing("+", with: " ")) ?? raw
            return (name, value)
        }
    }

    /// The first value of query parameter `name`.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// What a request path needs before it is routed.
    public enum PathCheck: Equatable, Sendable {
        case clean
        /// `.` or `..` segments (apt asks for `/./Release` in a flat repository): resolved with
        /// `removingDotSegments` before any stack is chosen.
        case dotSegments
        /// An encoded `/`, `\` or NUL, or a raw `\`: one path to a stack's matcher and another to
        /// whatever decodes it later. Answered 400, as Apache does.
        case refused(String)
    }

    /// Scans `path` once, a segment at a time, without allocating (it runs for every request).
    public static func checkPath(_ path: String) -> PathCheck {
        let bytes = path.utf8
        var found = false
        var start = bytes.startIndex
        while true {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
            switch segmentKind(bytes[start..<end]) {
            case .refused(let reason): return .refused(reason)
            case .dots: found = true
            case .name: break
            }
            guard end < bytes.endIndex else { return found ? .dotSegments : .clean }
            start = bytes.index(after: end)
        }
    }

    private enum SegmentKind {
        case name
        /// `.` (1) or `..` (2), each dot raw or as `%2e` (RFC 3986 §6.2.2.2: an encoded unreserved
        /// character is that character).
        case dots(Int)
        case refused(String)
    }

    private static func segmentKind(_ segment: Substring.UTF8View) -> SegmentKind {
        var dots = 0
        var other = false
        var index = segment.startIndex
        while index < segment.endIndex {
            let byte = segment[index]
            index = segment.index(after: index)
            switch byte {
            case UInt8(ascii: "\\"):
                return .refused("backslash in path")
            case UInt8(ascii: "%"):
                guard index < segment.endIndex, case let next = segment.index(after: index), next < segment.endIndex,
                      let high = PercentEncoding.hexValue(segment[index]), let low = PercentEncoding.hexValue(segment[next]) else {
                    other = true
                    continue
                }
                index = segment.index(after: next)
                switch high << 4 | low {
                case UInt8(ascii: "."): dots += 1
                case UInt8(ascii: "/"), UInt8(ascii: "\\"), 0: return .refused("encoded slash, backslash or NUL in path")
                default: other = true
                }
            case UInt8(ascii: "."):
                dots += 1
            default:
                other = true
            }
        }
        return !other && (dots == 1 || dots == 2) ? .dots(dots) : .name
    }

    /// `path` with its `.` and `..` segments resolved (RFC 3986 §5.2.4; `..` stops at the root):
    /// `/public/../admin` is `/admin`, `/./Release` is `/Release`, `/a/b/..` is `/a/`.
    public static func removingDotSegments(_ path: String) -> String {
        guard path.hasPrefix("/") else { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var output: [Substring] = []
        var endsWithSlash = false
        for (position, segment) in segments.enumerated() {
            guard case .dots(let count) = segmentKind(segment.utf8) else {
                output.append(segment)
                continue
            }
            if count == 2, !output.isEmpty { output.removeLast() }
            endsWithSlash = position == segments.count - 1
        }
        let joined = "/" + output.joined(separator: "/")
        return endsWithSlash && !joined.hasSuffix("/") ? joined + "/" : joined
    }

    static func split(target: String) -> (String, String?) {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, nil) }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }
}
