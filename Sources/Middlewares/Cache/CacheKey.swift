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
            text = "GET " + request.host + request.path
            if let query = request.query { text += "?" + query }
        }
        for name in keyHeaders {
            text += "\n" + name + ": " + request.headers.values(name).joined(separator: ", ")
        }
        self.text = text
    }

    /// SHA-256 of the key in hex: the disk tier's file names, so no request path reaches the file system.
    var digest: String { Hex.encode(Digest.sha256(text)) }

    var description: String { text }
}
