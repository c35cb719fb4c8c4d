import Foundation
import Pipeline

/// The stand-in as GitHub Actions' OIDC issuer (apt.md §6): discovery at
/// `/.well-known/openid-configuration`, keys at `/.well-known/jwks`, RS256 ID tokens with
/// GitHub's claims. `GET /_apis/idtoken?audience=` answers `{"value": jwt}` to the configured
/// runner request token, as `ACTIONS_ID_TOKEN_REQUEST_URL` does; tests mint tokens with chosen
/// claims through `POST /_standin/oidc/token`.
struct OIDCIssuer: Middleware {
    let state: StandInState

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let issuer = state.urls.oidc
        switch request.path {
        case "/.well-known/openid-configuration":
            state.count("oidc.discovery")
            return Response.json(.object(JSONObject([
                ("issuer", .string(issuer)), ("jwks_uri", .string(issuer + "/.well-known/jwks")),
                ("subject_types_supported", ["public", "pairwise"]), ("response_types_supported", ["id_token"]),
                ("claims_supported", .array(["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
                                             "repository_owner", "repository_owner_id", "repository_visibility", "run_id", "run_number",
                                             "run_attempt", "runner_environment", "actor", "actor_id", "workflow", "workflow_ref",
                                             "workflow_sha", "head_ref", "base_ref", "event_name", "ref_type", "environment",
                                             "job_workflow_ref", "job_workflow_sha"].map(JSONValue.string))),
                ("id_token_signing_alg_values_supported", ["RS256"]), ("scopes_supported", ["openid"]),
            ])))
        case "/.well-known/jwks":
            state.count("oidc.jwks")
            return Response.json(.object(JSONObject([("keys", .array(try state.publishedOIDCKeys.map { try $0.key.publicKey.jwk(kid: $0.kid) }))])))
        case "/_apis/idtoken":
            state.count("oidc.idtoken")
            guard let expected = state.config.oidcRequestToken, let header = request.headers["Authorization"],
                  header.lowercased().hasPrefix("bearer "),
                  ConstantTime.equals(Array(header.dropFirst(7).utf8), Array(expected.utf8)) else {
                return Response.json(["message": "unauthorized"], status: .unauthorized)
            }
            var claims = state.config.oidcClaims
            if let audience = request.query("audience") { claims["aud"] = .string(audience) }
            return Response.json(.object(JSONObject([("value", .string(try mint(claims: claims)))])))
        default:
            return Response.json(["message": "Not Found"], status: .notFound)
        }
    }

    /// A signed ID token: GitHub's default claims for a push to `main` of `<owner>/app`, with
    /// `overrides` on top (a JSON `null` removes a claim). `lifetime` sets `exp - iat`;
    /// `unknownKey` signs with a key the JWKS does not list (under the current `kid`).
    func mint(claims overrides: JSONObject, header: JSONObject = JSONObject(), lifetime: Double = 300, unknownKey: Bool = false) throws -> String {
        let now = WallClock.now.rounded(.down)
        let owner = state.fixtures.owners().first ?? "acme"
        let repository = overrides["repository"]?.string ?? "\(owner)/app"
        let ref = overrides["ref"]?.string ?? "refs/heads/main"
        var claims = JSONObject([
            ("jti", .string(UUID().uuidString.lowercased())), ("sub", .string("repo:\(repository):ref:\(ref)")),
            ("aud", .string("https://github.com/\(owner)")), ("ref", .string(ref)), ("sha", .string(String(repeating: "a", count: 40))),
            ("repository", .string(repository)), ("repository_owner", .string(owner)),
            ("repository_owner_id", .string(String(StableID.of("owner:" + owner.lowercased())))),
            ("repository_id", .string(String(StableID.of("repo:" + repository.lowercased())))),
            ("repository_visibility", "private"), ("run_id", "1"), ("run_number", "1"), ("run_attempt", "1"),
            ("runner_environment", "github-hosted"), ("actor", "octocat"), ("actor_id", "1"), ("workflow", "ci"),
            ("workflow_ref", .string("\(repository)/.github/workflows/ci.yml@\(ref)")), ("workflow_sha", .string(String(repeating: "a", count: 40))),
            ("event_name", "push"), ("ref_type", .string(ref.hasPrefix("refs/tags/") ? "tag" : "branch")),
            ("job_workflow_ref", .string("\(repository)/.github/workflows/ci.yml@\(ref)")),
            ("iss", .string(state.urls.oidc)), ("nbf", .number(now - 600)), ("exp", .number(now + lifetime)), ("iat", .number(now)),
        ])
        if let environment = overrides["environment"]?.string { claims["sub"] = .string("repo:\(repository):environment:\(environment)") }
        for (name, value) in overrides { claims[name] = value == .null ? nil : value }
        let (kid, current) = state.currentOIDCKey
        let key = unknownKey ? try PrivateKey.generate(.rsa(bits: 2048)) : current
        state.count("oidc.minted")
        var extra = JSONObject([("x5t", .string(Base64URL.encode(Digest.sha256(Array(kid.utf8)).prefix(20))))])
        for (name, value) in header { extra[name] = value }
        return try JWT.encode(header: extra, claims: claims, key: key, algorithm: .rs256, keyID: kid)
    }
}
