/// An absolute http(s) URL split the way the client needs it.
public struct HTTPURL: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    /// Host name or IP literal (IPv6 without brackets), lower-cased.
    public var host: String
    public var port: Int
    /// Path with percent-encoding intact; at least "/".
    public var path: String
    public var query: String?

    public init?(_ text: String) {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        var rest = Substring(text.dropFirst(scheme.count + 3))
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let target = rest[authorityEnd...]
        // Credentials in URLs (user:pass@host) are refused rather than silently sent somewhere.
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host: Substring
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ; if port == nil { return nil } } else if !after.isEmpty { return nil }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let number = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = number
        } else {
            host = authority
        }
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else { return nil }
        if let port, !(1...65535).contains(port) { return nil }
        self.scheme = scheme
        self.host = String(host).lowercasedASCII()
        self.port = port ?? (scheme == "https" ? 443 : 80)
        let (path, query) = Request.split(target: String(target))
        self.path = path.isEmpty ? "/" : path
        self.query = query
    }

    public init(scheme: String, host: String, port: Int? = nil, path: String, query: String? = nil) {
        self.scheme = scheme
        self.host = host.lowercasedASCII()
        self.port = port ?? (scheme == "https" ? 443 : 80)
        self.path = path.isEmpty ? "/" : path
        self.query = query
    }

    /// Why `text` is not a usable URL, for a config error: the text itself with any user-info and
    /// query left out, so a password from `${ENV}` never reaches a log or a terminal.
    public static func problem(with text: String) -> String {
        if let schemeEnd = text.firstRange(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex { (character: Character) -> Bool in character == "/" || character == "?" || character == "#" }
            if rest[..<(authorityEnd ?? rest.endIndex)].contains("@") {
                return "credentials in the URL are not accepted (give them as an option of their own)"
            }
        }
        var shown = Substring(text)
        if let mark = shown.firstIndex(where: { (character: Character) -> Bool in character == "?" || character == "#" }) {
            shown = shown[..<mark]
        }
        return "\"\(shown)\" is not an http:// or https:// URL"
    }

    public var isDefaultPort: Bool { port == (scheme == "https" ? 443 : 80) }

    /// `host[:port]` as the Host header wants it.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return isDefaultPort ? h : "\(h):\(port)"
    }

    /// Scheme, host and port: what credentials are scoped to.
    public var origin: String { "\(scheme)://\(authority)" }

    public var target: String { query.map { path + "?" + $0 } ?? path }

    public var description: String { origin + target }

    /// Resolves a Location header against this URL (RFC 3986 §5.2, the common forms).
    public func resolving(_ reference: String) -> HTTPURL? {
        if let absolute = HTTPURL(reference) { return absolute }
        if reference.hasPrefix("//") { return HTTPURL(scheme + ":" + reference) }
        var copy = self
        let (path, query) = Request.split(target: reference)
        if reference.hasPrefix("/") {
            copy.path = path
        } else if reference.hasPrefix("?") {
            copy.query = query
            return copy
        } else {
            let base = self.path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            copy.path = base + "/" + path
        }
        copy.query = query
        return copy
    }
}

extension Request {
    /// A request for an absolute URL, e.g. for the upstream client.
    public init?(url: String, method: HTTPMethod = .get, headers: HTTPFields = [:], body: IncomingBody = .empty) {
        guard let parsed = HTTPURL(url) else { return nil }
        self.init(method: method, scheme: parsed.scheme, authority: parsed.authority, path: parsed.path, query: parsed.query,
                  headers: headers, body: body)
    }

    /// The absolute URL this request targets (scheme, authority, path, query).
    public var url: HTTPURL? {
        HTTPURL("\(scheme)://\(authority)\(target)")
    }
}
