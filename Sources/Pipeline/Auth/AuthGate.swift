/// The one decision point for a run of adjacent authenticators in a chain (made by the chain
/// rule `AuthGate.composition`). In order:
///
/// 1. An anonymous path of the stack (configured, or declared by a member through
///    `DeclaresAnonymousPaths`) goes on without looking at credentials, so a stale token
///    sent to `/.well-known/terraform.json` cannot cause a 401.
/// 2. A valid signed URL for exactly this path and method is accepted instead of credentials; its
///    parameters are removed from the query before the request goes on.
/// 3. Each authenticator in turn; the first identity wins.
/// 4. Otherwise: 403 if any authenticator recognised genuine credentials that policy refuses;
///    401 with a challenge for every scheme if nothing was presented; 401 "invalid credentials"
///    when something was presented and nobody accepted it (a bad signed URL counts). Bodies say
///    which case it is; the reasons go to the access log as `auth_error`, and each refusal is
///    counted in `gateway_auth_failures_total` by stack and reason (`AuthMetrics`).
public struct AuthGate: Middleware {
    public let authenticators: [any Authenticator]
    public let anonymous: PathPatterns
    /// Verifies signed URLs; nil accepts none.
    public let signer: URLSigner?
    let clock: @Sendable () -> Int64

    public init(authenticators: [any Authenticator], anonymous: PathPatterns = PathPatterns(), signer: URLSigner? = nil,
                clock: @escaping @Sendable () -> Int64 = { HTTPDate.now }) {
        self.authenticators = authenticators
        self.anonymous = anonymous
        self.signer = signer
        self.clock = clock
    }

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        if anonymous.matches(request) { return try await next(request, context) }
        var reasons: [String] = []
        if let signer {
            switch signer.check(request, now: clock()) {
            case .absent:
                break
            case .valid(let keyID, let query):
                var request = request
                request.query = query
                context.identity = Identity(subject: "signed-url", method: "signed-url", claims: ["key": keyID])
                return try await next(request, context)
            case .invalid(let reason):
                reasons.append("signed-url: \(reason)")
            }
        }
        var forbidden = false
        for authenticator in authenticators {
            let outcome: AuthOutcome
            do {
                outcome = try await authenticator.authenticate(request, context: context)
            } catch let error as HTTPError {
                // Throttled (429) or unable to decide now (503): counted, passed on.
                if error.status.code == 429 || error.status.code == 503 {
                    AuthMetrics.shared.refused(stack: context.stack, reason: error.status.code == 429 ? "throttled" : "unavailable")
                }
                throw error
            }
            switch outcome {
            case .identity(let identity):
                context.identity = identity
                return try await next(request, context)
            case .noCredentials:
                continue
            case .rejected(let reason):
                reasons.append(reason)
            case .forbidden(let reason):
                reasons.append(reason)
                forbidden = true
            }
        }
        if !reasons.isEmpty { context.annotate("auth_error", reasons.joined(separator: "; ")) }
        AuthMetrics.shared.refused(stack: context.stack, reason: forbidden ? "forbidden" : AuthMetrics.reason(rejections: reasons))
        if forbidden { throw HTTPError(.forbidden, "credentials valid but not allowed here") }
        var headers = HTTPFields()
        var seen: Set<String> = []
        for challenge in authenticators.flatMap(\.challenges) where seen.insert(challenge).inserted {
            headers.append("WWW-Authenticate", challenge)
        }
        throw HTTPError(.unauthorized, reasons.isEmpty ? "authentication required" : "invalid credentials", headers: headers)
    }
}
