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
        if code == 200, request.headers.contains(where: { asksForPart($0.name) }) {
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

    /// Whether a request field is a precondition (`If-…`) or `Range`: read byte by byte (it is
    /// asked of every field of every hit; the generic `hasPrefixIgnoringASCIICase` was 4% of a hit).
    static func asksForPart(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard utf8.count >= 3 else { return false }
        var index = utf8.startIndex
        let first = utf8[index]
        utf8.formIndex(after: &index)
        let second = utf8[index]
        utf8.formIndex(after: &index)
        if first | 0x20 == UInt8(ascii: "i"), second | 0x20 == UInt8(ascii: "f"), utf8[index] == UInt8(ascii: "-") { return true }
        return utf8.count == 5 && name.equalsIgnoringASCIICase("Range")
    }

    /// `stored` with each of `labels` and then `extra` set in turn as `HTTPFields`' subscript sets
    /// it (the first field of that name takes the value and keeps its place, later ones go; a new
    /// name is appended), in one array made with room for them: this runs for every hit, and a copy
    /// of the stored fields grown by each label cost two or three allocations.
    static func merged(_ stored: HTTPFields, _ labels: HTTPFields, _ extra: HTTPField?) -> HTTPFields {
        var fields: [HTTPField] = []
        fields.reserveCapacity(stored.count + labels.count + 1)
        fields.append(contentsOf: stored)
        func set(_ field: HTTPField) {
            guard let index = fields.firstIndex(where: { $0.name.equalsIgnoringASCIICase(field.name) }) else {
                fields.append(field)
                return
            }
            fields[index].value = field.value
            var later = index + 1
            while later < fields.count {
                if fields[later].name.equalsIgnoringASCIICase(field.name) { fields.remove(at: later) } else { later += 1 }
            }
        }
        for field in labels { set(field) }
        if let extra { set(extra) }
        return HTTPFields(fields)
    }
}
