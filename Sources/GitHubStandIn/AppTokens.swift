import Pipeline

/// `POST /app/installations/{id}/access_tokens`: checks the App JWT as GitHub does (RS256 under
/// the App's public key, `iss` the App id, `iat` not in the future, `exp` in the future and at
/// most 10 minutes ahead) and answers 201 with a new installation token and its `expires_at`.
struct AppTokens {
    let state: StandInState
    /// Clock drift GitHub tolerates on `iat`.
    static let leeway = 60.0

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
        guard let iat = jwt.claims["iat"]?.number, iat <= now + Self.leeway else {
            return GitHubJSON.error(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past.")
        }
        guard let exp = jwt.claims["exp"]?.number, exp > now else {
            return GitHubJSON.error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.")
        }
        guard exp - now <= 600 + Self.leeway, exp - iat <= 600 + Self.leeway else {
            return GitHubJSON.error(401, "'Expiration time' claim ('exp') is too far in the future.")
        }
        guard jwt.claim("iss") == String(appID) else {
            return GitHubJSON.error(401, "Integration not found")
        }
        guard let id = Int(text), let installation = state.config.installations.first(where: { $0.id == id }) else {
            return GitHubJSON.error(404, "Not Found")
        }
        let (value, expiresAt) = state.mintToken(installation: installation, now: now)
        return Response.json(.object(JSONObject([
            ("token", .string(value)), ("expires_at", .string(WallClock.format(expiresAt))),
            ("permissions", .object(JSONObject([("contents", "read"), ("metadata", "read")]))),
            ("repository_selection", "all"),
        ])), status: .created)
    }
}
