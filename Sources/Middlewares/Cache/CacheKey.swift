import Pipeline

/// What a stored response is found by: GET (HEAD shares it), host, path and query, plus the values of
/// the request headers a stack lists in `keyHeaders`. When a behaviour earlier in the chain prepared
/// an upstream request with a `cacheKey` (a tarball by commit), that identity replaces the URL, so
/// expiring tokens in the URL do not split the cache.
///
/// ```swift
/// CacheKey(request, keyHeaders: ["Accept"]).text
/// // "GET example.com/v1/modules?x=1\naccept: application/json"
/// ```
struct CacheKey: Hashable, Sendable, CustomStringConvertible {
    let text: String

    init(text: String) { self.text = text }

    init(_ request: Request, keyHeaders: [String]) {
        var text: String
        if let identity = request.upstream?.cacheKey {
            text = "GET upstream:" + identity
        } else {
            text = Self.url(of: request)
        }
        for name in keyHeaders {
            text += "\n" + name + ": " + request.headers.values(name).joined(separator: ", ")
        }
        self.text = text
    }

    /// `GET host/path?query` with the host as `Request.host` gives it (lower-cased, no port),
    /// written into one string: the key is made for every request.
    static func url(of request: Request) -> String {
        var host = hostPart(of: request.authority)
        var path = request.path
        var query = request.query
        let count = 4 + host.utf8.count + path.utf8.count + (query.map { 1 + $0.utf8.count } ?? 0)
        return String(unsafeUninitializedCapacity: count) { buffer in
            var at = 0
            func put(_ bytes: UnsafeBufferPointer<UInt8>, lowercasing: Bool = false) {
                for byte in bytes {
                    buffer[at] = lowercasing && byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                    at += 1
                }
            }
            for byte in "GET ".utf8 {
                buffer[at] = byte
                at += 1
            }
            host.withUTF8 { put($0, lowercasing: true) }
            path.withUTF8 { put($0) }
            if query != nil {
                buffer[at] = UInt8(ascii: "?")
                at += 1
                query!.withUTF8 { put($0) }
            }
            return at
        }
    }

    /// The host of `authority` without its port, as it was sent (`Request.host` lower-cases it).
    static func hostPart(of authority: String) -> Substring {
        let utf8 = authority.utf8
        if utf8.first == UInt8(ascii: "["), let end = utf8.firstIndex(of: UInt8(ascii: "]")) {
            return authority[utf8.index(after: utf8.startIndex)..<end]
        }
        if let colon = utf8.lastIndex(of: UInt8(ascii: ":")) { return authority[..<colon] }
        return authority[...]
    }

    /// SHA-256 of the key in hex: the disk tier's file names, so no request path reaches the file system.
    var digest: String { Hex.encode(Digest.sha256(text)) }

    var description: String { text }
}
