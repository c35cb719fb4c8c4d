extension HTTP2RequestHead {
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
