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
    /// Makes the fetch instead of `upstream` sending the request with `client`: for objects behind
    /// a call that must go through the source's own limits and credentials (GitHub's tarball and
    /// asset endpoints count against its rate limit and answer a redirect to a storage host). It
    /// runs only when `upstream` fetches, so a `cache` hit costs no call, and gets the request as it
    /// reached `upstream` (with any `Range` a behaviour added) and the stack's deadline. A thrown
    /// `HTTPError` reaches the client as it is (503 with `Retry-After` while a limit is spent).
    public var fetch: (@Sendable (Request, ContinuousClock.Instant?) async throws -> ClientResponse)?

    public init(client: HTTPClient? = nil, followRedirects: Bool = true, cacheKey: String? = nil, immutable: Bool = false,
                fetch: (@Sendable (Request, ContinuousClock.Instant?) async throws -> ClientResponse)? = nil) {
        self.client = client
        self.followRedirects = followRedirects
        self.cacheKey = cacheKey
        self.immutable = immutable
        self.fetch = fetch
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
