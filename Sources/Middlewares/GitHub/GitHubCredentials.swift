import Pipeline

/// How the source proves who it is to GitHub: a GitHub App installation (preferred: short-lived
/// tokens, fine-grained permissions), a fixed token (a PAT or `GITHUB_TOKEN`), or nothing
/// (public repositories only, 60 calls an hour).
enum GitHubCredentials: Sendable {
    case anonymous
    case token(Secret)
    case app(InstallationTokenCache)

    /// The `Authorization` value for the next call, minting an installation token when needed.
    func authorization() async throws -> String? {
        switch self {
        case .anonymous: nil
        case .token(let secret): "Bearer " + secret.value
        case .app(let cache): "Bearer " + (try await cache.token())
        }
    }

    /// Reacts to a 401 for `authorization`. True when a retry with fresh credentials makes sense:
    /// only an installation token can be replaced by minting again.
    func refused(_ authorization: String?) -> Bool {
        guard case .app(let cache) = self, let authorization, authorization.hasPrefix("Bearer ") else { return false }
        cache.invalidate(String(authorization.dropFirst(7)))
        return true
    }

    var summary: String {
        switch self {
        case .anonymous: "anonymous"
        case .token: "token"
        case .app(let cache): "app \(cache.app.id) installation \(cache.app.installation)"
        }
    }
}
