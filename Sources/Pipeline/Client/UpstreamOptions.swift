/// How `upstream` should fetch a request a behaviour prepared (as opposed to a client request
/// forwarded to a configured `url`).
public struct UpstreamOptions: Sendable {
    /// The client to use (a source's, with its CA and timeouts); nil uses the middleware's own.
    public var client: HTTPClient?
    public var followRedirects: Bool
    /// A stable cache key for what this fetch returns (e.g. `github:acme/vpc@<sha>.tar.gz`), so
    /// `cache` can key by identity rather than by a URL that carries expiring tokens.
    public var cacheKey: String?
    /// The object behind `cacheKey` never changes (a tarball of a commit, a release asset by id).
    public var immutable: Bool

    public init(client: HTTPClient? = nil, followRedirects: Bool = true, cacheKey: String? = nil, immutable: Bool = false) {
        self.client = client
        self.followRedirects = followRedirects
        self.cacheKey = cacheKey
        self.immutable = immutable
    }
}

extension HTTPFields {
    /// Removes hop-by-hop fields (RFC 9110 §7.6.1): Connection and the fields it lists, Keep-Alive,
    /// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade and the Proxy-* auth fields.
    public mutating func removeHopByHop() {
        let listed = list("Connection")
        for name in ["Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                     "Proxy-Authenticate", "Proxy-Authorization"] + listed {
            remove(name)
        }
    }
}
