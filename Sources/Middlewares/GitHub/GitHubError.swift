import Pipeline

/// Why a call to GitHub did not produce an answer. Inside the source these decide whether stale
/// metadata may be served; at its edge they become the `HTTPError` clients see, which never names
/// the GitHub host, the token or the installation.
enum GitHubError: Error, CustomStringConvertible {
    /// The rate limit is spent; calls resume after `retryAfter` seconds.
    case rateLimited(retryAfter: Int)
    /// GitHub could not be reached or answered 5xx: a passing outage.
    case unavailable(String)
    /// GitHub refused the gateway's own credentials (bad key, revoked token, wrong installation).
    case credentials(String)
    /// Any other unexpected answer.
    case unexpected(status: Int, String)
    /// An answer larger than the cap for metadata.
    case tooLarge(limit: Int)

    var description: String {
        switch self {
        case .rateLimited(let seconds): "GitHub rate limit reached; calls resume in \(seconds) s"
        case .unavailable(let reason): "GitHub unavailable: \(reason)"
        case .credentials(let reason): "GitHub refused the credentials: \(reason)"
        case .unexpected(let status, let reason): "unexpected GitHub answer \(status): \(reason)"
        case .tooLarge(let limit): "GitHub answer larger than \(limit) bytes"
        }
    }

    /// Whether stale metadata may stand in for a fresh answer.
    var allowsStale: Bool {
        switch self {
        case .rateLimited, .unavailable: true
        default: false
        }
    }

    /// What a client of the gateway is told.
    var httpError: HTTPError {
        switch self {
        case .rateLimited(let seconds):
            HTTPError(.serviceUnavailable, "upstream rate limit reached; retry later", headers: ["Retry-After": String(seconds)])
        case .unavailable:
            HTTPError(.badGateway, "upstream unavailable")
        case .credentials, .unexpected, .tooLarge:
            HTTPError(.badGateway, "upstream refused the request")
        }
    }
}
