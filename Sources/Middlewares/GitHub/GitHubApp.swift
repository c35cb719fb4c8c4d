import Pipeline

/// A GitHub App's identity: its id, the installation on the owner, and the private key that signs
/// the short JWTs exchanged for installation tokens ("Generating a JSON Web Token (JWT) for a
/// GitHub App").
struct GitHubApp: Sendable {
    /// The App id (or its client id, which GitHub also accepts as `iss`).
    let id: String
    let installation: String
    let key: PrivateKey

    init(id: String, installation: String, privateKeyPEM: String) throws {
        self.id = id
        self.installation = installation
        key = try PrivateKey(pem: privateKeyPEM)
        guard key.algorithms.contains(.rs256) else { throw CryptoError("the App's private key is not an RSA key") }
    }

    /// A JWT for the App: RS256, `iat` 60 s in the past against clock drift, `exp` 9 minutes ahead
    /// (GitHub refuses more than 10), `iss` the App id (a number when it is one).
    func jwt(now: Double) throws -> String {
        let seconds = Int(now)
        let issuer: JSONValue = Int(id).map { .number(Double($0)) } ?? .string(id)
        let claims = JSONObject([("iat", .number(Double(seconds - 60))), ("exp", .number(Double(seconds + 540))), ("iss", issuer)])
        return try JWT.encode(claims: claims, key: key, algorithm: .rs256)
    }
}
