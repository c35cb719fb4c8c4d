import Pipeline

/// How the stand-in's API answers: JSON with GitHub's headers, weak ETags with 304 for a matching
/// `If-None-Match`, and `per_page`/`page` pagination with a `Link` header.
enum APIResponses {
    /// JSON with an ETag; 304 (no body) when `If-None-Match` matches.
    static func json(_ value: JSONValue, request: Request, status: HTTPStatus = .ok, link: String? = nil) -> Response {
        let body = Array(value.serialized().utf8)
        return bytes(body, contentType: "application/json; charset=utf-8", request: request, status: status, link: link, weak: true)
    }

    /// Any body with an ETag derived from its bytes.
    static func bytes(_ body: [UInt8], contentType: String, request: Request, status: HTTPStatus = .ok, link: String? = nil,
                      weak: Bool) -> Response {
        let etag = (weak ? "W/" : "") + "\"" + Hex.encode(Digest.sha256(body)) + "\""
        var headers: HTTPFields = ["Content-Type": contentType, "ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60",
                                   "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP", "X-GitHub-Media-Type": "github.v3; format=json"]
        if let link { headers["Link"] = link }
        if status == .ok, matches(request.headers.list("If-None-Match"), etag) {
            headers["Content-Type"] = nil
            return Response(status: .notModified, headers: headers, body: .empty)
        }
        return Response(status: status, headers: headers, body: ResponseBody(bytes: body))
    }

    /// Weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
    static func matches(_ candidates: [String], _ etag: String) -> Bool {
        func opaque(_ tag: String) -> String { tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag }
        return candidates.contains { $0 == "*" || opaque($0) == opaque(etag) }
    }

    /// One page of `items` as `per_page` (default 30, at most 100) and `page` ask, with `Link`
    /// naming `next`, `last`, `first` and `prev` as GitHub does.
    static func page(_ items: [JSONValue], request: Request, base: String, wrap: ((JSONValue) -> JSONValue)? = nil) -> Response {
        let perPage = min(100, max(1, request.query("per_page").flatMap(Int.init) ?? 30))
        let page = max(1, request.query("page").flatMap(Int.init) ?? 1)
        let lastPage = max(1, (items.count + perPage - 1) / perPage)
        let start = min(items.count, (page - 1) * perPage)
        let slice = Array(items[start..<min(items.count, start + perPage)])
        var links: [String] = []
        func url(_ number: Int) -> String {
            var pairs = request.queryItems.filter { $0.name != "page" && $0.name != "per_page" }.map { "\($0.name)=\(PercentEncoding.encodeComponent($0.value))" }
            pairs.append("per_page=\(perPage)")
            pairs.append("page=\(number)")
            return "<\(base)\(request.path)?\(pairs.joined(separator: "&"))>"
        }
        if page > 1 { links.append("\(url(page - 1)); rel=\"prev\"") }
        if page < lastPage { links.append("\(url(page + 1)); rel=\"next\"") }
        if page < lastPage { links.append("\(url(lastPage)); rel=\"last\"") }
        if page > 1 { links.append("\(url(1)); rel=\"first\"") }
        let value = wrap?(.array(slice)) ?? .array(slice)
        return json(value, request: request, link: links.isEmpty ? nil : links.joined(separator: ", "))
    }
}
