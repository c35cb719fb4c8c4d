import Pipeline

/// `POST /app/installations/{id}/access_tokens`: checks the App JWT as GitHub does (RS256 under
/// the App's public key; `iss` the App id or its Client ID; `iat` not in GitHub's future and `exp`
/// in its future but at most 10 minutes ahead, with no leeway: the 60 s a client sets `iat` back
/// is all the drift GitHub forgives) and answers 201 with a new installation token and its
/// `expires_at`. `X-GitHub-Stateless-S2S-Token: enabled|disabled` chooses the token format for
/// this request, as on GitHub; any other value is ignored.
struct AppTokens {
    let state: StandInState

    func mint(_ request: Request, installation text: String, now: Double) -> Response {
        guard let header = request.headers["Authorization"], header.lowercased().hasPrefix("bearer ") else {
            return GitHubJSON.error(401, "A JSON web token could not be decoded")
        }
        let token = String(header.dropFirst(7)).trimmingASCIIWhitespace()
        guard let key = state.config.appPublicKey, let appID = state.config.appID,
              let jwt = try? JWT(parsing: token, maxBytes: 16 * 1024), jwt.algorithm == "RS256",
              key.verify(jwt.signature, for: jwt.signingInput, algorithm: .rs256) else {
            return GitHubJSON.error(401, "A JSON web token could not be decoded")
        }
        guard let iat = jwt.claims["iat"]?.number, iat <= now.rounded(.down) else {
            return GitHubJSON.error(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past.")
        }
        guard let exp = jwt.claims["exp"]?.number, exp > now else {
            return GitHubJSON.error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.")
        }
        guard exp - now <= 600 else {
            return GitHubJSON.error(401, "'Expiration time' claim ('exp') is too far in the future.")
        }
        guard let issuer = jwt.claim("iss"), issuer == String(appID) || issuer == state.config.appClientID else {
            return GitHubJSON.error(401, "Integration not found")
        }
        guard let id = Int(text), let installation = state.config.installations.first(where: { $0.id == id }) else {
            return GitHubJSON.error(404, "Not Found")
        }
        let stateless: Bool? = switch request.headers["X-GitHub-Stateless-S2S-Token"] {
        case "enabled": true
        case "disabled": false
        default: nil
        }
        let (value, expiresAt) = state.mintToken(installation: installation, stateless: stateless, now: now)
        return Response.json(.object(JSONObject([
            ("token", .string(value)), ("expires_at", .string(WallClock.format(expiresAt))),
            ("permissions", .object(JSONObject([("contents", "read"), ("metadata", "read")]))),
            ("repository_selection", "all"),
        ])), status: .created)
    }
}
