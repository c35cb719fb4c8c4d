import Pipeline

/// Builds a client's answer from a stored response or a fill in progress, for the request as the
/// client sent it: If-None-Match/If-Modified-Since give 304 and If-Match/If-Unmodified-Since 412
/// (RFC 9110 §13.2.2), a single Range gives 206 or 416 when the length is known, HEAD gets the
/// head with Content-Length and no body. The cache itself always fetched the whole object.
enum CacheAnswer {
    /// - Parameters:
    ///   - length: the body's length, when known (a fill of a chunked upstream answer does not know it yet).
    ///   - labels: fields the cache adds (`Cache-Status`, `X-Cache`, `Age`), kept on every kind of answer.
    ///   - body: the body for bytes `start..<start+count` (`count` nil: to the end); nil when it is gone.
    static func build(_ request: Request, status code: Int, headers stored: HTTPFields, length: Int64?, labels: HTTPFields,
                      body: (_ start: Int64, _ count: Int64?) -> ResponseBody?) -> Response? {
        var headers = merged(stored, labels, code == 200 && length != nil ? HTTPField(name: "Accept-Ranges", value: "bytes") : nil)
        let status = HTTPStatus(code)
        // Most requests carry no conditional and no Range: skip parsing validators for them.
        if code == 200, request.headers.contains(where: { $0.name.hasPrefixIgnoringASCIICase("If-") || $0.name.equalsIgnoringASCIICase("Range") }) {
            let etag = headers["ETag"]
            var lastModified = headers["Last-Modified"].flatMap(HTTPDate.parse)
            // Without Last-Modified, If-Modified-Since is judged against the stored Date (RFC 9111 §4.3.2);
            // only for that header: If-Range and If-Unmodified-Since need the real validator.
            if lastModified == nil, request.headers["If-Range"] == nil, request.headers["If-Unmodified-Since"] == nil {
                lastModified = headers["Date"].flatMap(HTTPDate.parse)
            }
            let answer = RepresentationAnswer.decide(request, etag: etag, lastModified: lastModified, size: length)
            switch answer {
            case .full:
                break
            case .partial(let part):
                guard let partial = body(part.lowerBound, part.upperBound - part.lowerBound) else { return nil }
                return answer.response(headers: headers, size: length) { _ in partial }
            case .notModified, .preconditionFailed, .unsatisfiable:
                var response = answer.response(headers: headers, size: length) { _ in .empty }
                if answer == .unsatisfiable { for field in labels { response.headers[field.name] = field.value } }
                return response
            }
        }
        if request.method == .head || !status.allowsContent {
            if let length, status.allowsContent { headers["Content-Length"] = String(length) }
            return Response(status: status, headers: headers, body: ResponseBody(content: .empty, length: nil))
        }
        guard let whole = body(0, length) else { return nil }
        return Response(status: status, headers: headers, body: whole)
    }

    /// `stored` with each of `labels` and then `extra` set in turn as `HTTPFields`' subscript sets
    /// it (the first field of that name takes the value and keeps its place, later ones go; a new
    /// name is appended), built in one array of the right size: this runs for every hit.
    static func merged(_ stored: HTTPFields, _ labels: HTTPFields, _ extra: HTTPField?) -> HTTPFields {
        let count = labels.count + (extra == nil ? 0 : 1)
        guard count <= 64 else {
            var headers = stored
            for field in labels { headers[field.name] = field.value }
            if let extra { headers[extra.name] = extra.value }
            return headers
        }
        func set(_ index: Int) -> HTTPField { index < labels.count ? labels[index] : extra! }
        func first(named name: String) -> Int? {
            (0..<count).first { set($0).name.equalsIgnoringASCIICase(name) }
        }
        /// A name set twice keeps the place of its first setting and the value of its last.
        func value(from index: Int) -> String {
            let name = set(index).name
            return (index..<count).last { set($0).name.equalsIgnoringASCIICase(name) }.map { set($0).value } ?? set(index).value
        }
        var fields: [HTTPField] = []
        fields.reserveCapacity(stored.count + count)
        var placed: UInt64 = 0
        for field in stored {
            guard let index = first(named: field.name) else {
                fields.append(field)
                continue
            }
            if placed & (1 << index) == 0 {
                placed |= 1 << index
                fields.append(HTTPField(name: field.name, value: value(from: index)))
            }
        }
        for index in 0..<count where placed & (1 << index) == 0 && first(named: set(index).name) == index {
            fields.append(HTTPField(name: set(index).name, value: value(from: index)))
        }
        return HTTPFields(fields)
    }
}
