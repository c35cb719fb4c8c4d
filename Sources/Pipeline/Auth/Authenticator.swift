/// What one authenticator concluded about a request.
public enum AuthOutcome: Sendable, Equatable {
    /// No credentials of this authenticator's kind (another one may recognise them).
    case noCredentials
    /// Proven: who it is.
    case identity(Identity)
    /// Credentials of this kind that are wrong, expired or malformed → 401. The reason goes to
    /// the access log, never to the client.
    case rejected(String)
    /// Genuine credentials that policy does not allow here → 403. The reason is logged only.
    case forbidden(String)
}

/// An auth middleware (`auth.basic`, `auth.bearer`, `auth.oidc`). Adjacent authenticators in a
/// chain are combined into one `AuthGate` when the chain is built, so they act as alternatives: the
/// first identity wins, a 401 carries every scheme's challenge, and credentials one of them
/// rejects can still be accepted by another (a Basic login `github-action` is a stranger to
/// `auth.basic` but carries an OIDC token for `auth.oidc`).
public protocol Authenticator: Middleware {
    /// `WWW-Authenticate` values this authenticator adds to a 401, e.g. `Basic realm="apt"`.
    var challenges: [String] { get }

    /// Examines the request's credentials. Wrong credentials are outcomes; it throws only when it
    /// cannot decide (the issuer's keys are unreachable, the hashing pool is full), as an
    /// `HTTPError` 503 so clients retry instead of giving up on a 401.
    func authenticate(_ request: Request, context: Context) async throws -> AuthOutcome
}

extension Authenticator {
    /// Used alone (outside a built chain) an authenticator is a gate of one, with no signed URLs
    /// and no anonymous paths.
    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        try await AuthGate(authenticators: [self]).handle(request, context: context, next: next)
    }
}
