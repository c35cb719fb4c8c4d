/// A single `Range: bytes=...` request resolved against a representation's size (RFC 9110 §14).
public enum ByteRange: Equatable, Sendable {
    /// Send the whole representation (no Range, an unsupported unit, or several ranges).
    case full
    /// Send `range` with 206 and Content-Range.
    case partial(Range<Int64>)
    /// 416 with `Content-Range: bytes */size`.
    case unsatisfiable

    public static func resolve(_ header: String?, size: Int64) -> ByteRange {
        guard let header else { return .full }
        let trimmed = header.trimmingASCIIWhitespace()
        guard trimmed.hasPrefixIgnoringASCIICase("bytes=") else { return .full }
        let spec = trimmed.dropFirst(6)
        // Multiple ranges would need multipart/byteranges; answering with the whole body is allowed.
        guard !spec.contains(",") else { return .full }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .full }
        let first = parts[0].trimmingASCIIWhitespace(), last = parts[1].trimmingASCIIWhitespace()
        func number(_ text: String) -> Int64? {
            guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return Int64(text)
        }
        if first.isEmpty {
            guard let suffix = number(last) else { return .full }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - suffix)..<size)
        }
        guard let start = number(first) else { return .full }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .partial(start..<size) }
        guard let end = number(last), end >= start else { return .full }
        return .partial(start..<min(end + 1, size))
    }

    /// `bytes start-end/size` for a 206.
    public static func contentRange(_ range: Range<Int64>, size: Int64) -> String {
        "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
    }
}

/// Conditional request evaluation for GET and HEAD (RFC 9110 §13.2.2).
public enum Conditional {
    public enum Outcome: Equatable, Sendable {
        case proceed
        case notModified
        case preconditionFailed
    }

    /// Decides from If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since, in that order.
    public static func evaluate(_ headers: HTTPFields, etag: String?, lastModified: Int64?) -> Outcome {
        if let ifMatch = headers["If-Match"] {
            guard let etag, matches(ifMatch, etag: etag, weak: false) else { return .preconditionFailed }
        } else if let since = headers["If-Unmodified-Since"].flatMap(HTTPDate.parse), let lastModified, lastModified > since {
            return .preconditionFailed
        }
        if let ifNoneMatch = headers["If-None-Match"] {
            if let etag, matches(ifNoneMatch, etag: etag, weak: true) { return .notModified }
            return .proceed
        }
        if let since = headers["If-Modified-Since"].flatMap(HTTPDate.parse), let lastModified, lastModified <= since {
            return .notModified
        }
        return .proceed
    }

    /// Whether an If-Range value still names the current representation (strong comparison for tags).
    public static func ifRangeHolds(_ headers: HTTPFields, etag: String?, lastModified: Int64?) -> Bool {
        guard let value = headers["If-Range"]?.trimmingASCIIWhitespace() else { return true }
        if value.hasPrefix("\"") || value.hasPrefix("W/") {
            guard let etag, !value.hasPrefix("W/"), !etag.hasPrefix("W/") else { return false }
            return value == etag
        }
        guard let date = HTTPDate.parse(value), let lastModified else { return false }
        return lastModified == date
    }

    static func matches(_ list: String, etag: String, weak: Bool) -> Bool {
        if list.trimmingASCIIWhitespace() == "*" { return true }
        func opaque(_ tag: String) -> String { tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag }
        for candidate in list.split(separator: ",").map({ $0.trimmingASCIIWhitespace() }) {
            if weak {
                if opaque(candidate) == opaque(etag) { return true }
            } else if !candidate.hasPrefix("W/"), !etag.hasPrefix("W/"), candidate == etag {
                return true
            }
        }
        return false
    }
}

/// What a GET or HEAD asks of a representation whose validators (and usually size) are known:
/// the one decision `files`, `cache` and the stand-in share, in RFC 9110's order — preconditions
/// (§13.2.2), then If-Range and Range (§13.1.5, §14.2; ranges apply to GET only).
public enum RepresentationAnswer: Equatable, Sendable {
    case notModified
    case preconditionFailed
    case full
    case partial(Range<Int64>)
    case unsatisfiable

    public static func decide(_ request: Request, etag: String?, lastModified: Int64?, size: Int64?) -> RepresentationAnswer {
        switch Conditional.evaluate(request.headers, etag: etag, lastModified: lastModified) {
        case .notModified: return .notModified
        case .preconditionFailed: return .preconditionFailed
        case .proceed: break
        }
        guard request.method == .get, let size, let range = request.headers["Range"],
              Conditional.ifRangeHolds(request.headers, etag: etag, lastModified: lastModified) else { return .full }
        switch ByteRange.resolve(range, size: size) {
        case .full: return .full
        case .partial(let part): return .partial(part)
        case .unsatisfiable: return .unsatisfiable
        }
    }

    /// The response for this decision: 304 (without Content-Type), 412, 200, 206 with
    /// Content-Range, or 416 with `Content-Range: bytes */size`. `body` gives the bytes of a range
    /// (nil: the whole representation).
    public func response(headers: HTTPFields, size: Int64?, body: (Range<Int64>?) -> ResponseBody) -> Response {
        var headers = headers
        switch self {
        case .notModified:
            headers["Content-Type"] = nil
            return Response(status: .notModified, headers: headers, body: .empty)
        case .preconditionFailed:
            return HTTPError(.preconditionFailed, "precondition failed").response
        case .full:
            return Response(status: .ok, headers: headers, body: body(nil))
        case .partial(let range):
            headers["Content-Range"] = ByteRange.contentRange(range, size: size ?? range.upperBound)
            return Response(status: .partialContent, headers: headers, body: body(range))
        case .unsatisfiable:
            var error = HTTPError(.rangeNotSatisfiable, "range not satisfiable")
            error.headers["Content-Range"] = "bytes */\(size ?? 0)"
            return error.response
        }
    }
}
