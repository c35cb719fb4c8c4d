import Pipeline

/// Fetches the small JSON documents of an OpenID provider (discovery, JWKS). The real one goes
/// over HTTPS with the upstream client; tests use an in-memory one that counts calls.
public protocol OIDCDocumentFetcher: Sendable {
    /// GETs `url` and parses the body as JSON. Throws on transport errors, a status other than
    /// 200, a body over a small cap, or invalid JSON; the error text is safe to log.
    func fetchJSON(_ url: String) async throws -> JSONValue
}
