/// The checks a token must pass before any claim is believed (RFC 7519 §7.2, RFC 8725, apt.md §6
/// pitfalls): the algorithm is one of a pinned list (never `none` or `HS*`, whatever the header
/// says), the signature verifies with the key its `kid` names, `iss` equals the issuer exactly,
/// `aud` (string or array) contains a configured audience, and `exp`/`nbf`/`iat` hold within a
/// leeway.
public struct JWTVerifier: Sendable {
    public var issuer: String
    /// The token's `aud` must contain at least one of these.
    public var audiences: [String]
    public var algorithms: Set<SignatureAlgorithm>
    /// Clock difference tolerated on `exp`, `nbf` and `iat` (issuers run a few seconds ahead).
    public var leeway: Int64
    /// When set, tokens whose `iat` is older than this many seconds are refused (and `iat` is required).
    public var maxAge: Int64?
    public var maxTokenBytes: Int

    public init(issuer: String, audiences: [String], algorithms: Set<SignatureAlgorithm> = [.rs256], leeway: Int64 = 60,
                maxAge: Int64? = nil, maxTokenBytes: Int = 8192) {
        self.issuer = issuer
        self.audiences = audiences
        self.algorithms = algorithms
        self.leeway = leeway
        self.maxAge = maxAge
        self.maxTokenBytes = maxTokenBytes
    }

    /// Parses `token` and checks its `alg` against the pinned list. Nothing else is trusted yet.
    public func parse(_ token: String) throws(JWTError) -> (token: JWT, algorithm: SignatureAlgorithm) {
        let jwt = try JWT(parsing: token, maxBytes: maxTokenBytes)
        guard let name = jwt.algorithm else { throw .malformed("no alg") }
        // Exact, case-sensitive names only: "none", "None", "HS256" and friends are not in the enum.
        guard let algorithm = SignatureAlgorithm(rawValue: name), algorithms.contains(algorithm) else {
            throw .algorithmNotAllowed(name)
        }
        if let kid = jwt.header["kid"], kid.string == nil { throw .malformed("kid is not a string") }
        return (jwt, algorithm)
    }

    /// Verifies the signature with `key`, then the registered claims at `now` (Unix seconds).
    public func verify(_ jwt: JWT, algorithm: SignatureAlgorithm, key: PublicKey, now: Int64) throws(JWTError) {
        guard algorithms.contains(algorithm), key.verify(jwt.signature, for: jwt.signingInput, algorithm: algorithm) else {
            throw .badSignature
        }
        try checkClaims(jwt.claims, now: now)
    }

    /// Parse, key lookup and verification in one call, for keys already at hand.
    public func verify(_ token: String, keys: JWKSet, now: Int64) throws(JWTError) -> JWT {
        let (jwt, algorithm) = try parse(token)
        guard let key = keys.key(id: jwt.keyID, algorithm: algorithm) else { throw .unknownKey }
        try verify(jwt, algorithm: algorithm, key: key, now: now)
        return jwt
    }

    func checkClaims(_ claims: JSONObject, now: Int64) throws(JWTError) {
        guard claims["iss"]?.string == issuer else { throw .wrongIssuer }
        switch claims["aud"] {
        case .string(let aud)?:
            guard audiences.contains(aud) else { throw .wrongAudience }
        case .array(let list)?:
            let values = list.compactMap(\.string)
            guard values.count == list.count else { throw .malformed("aud holds a non-string") }
            guard values.contains(where: audiences.contains) else { throw .wrongAudience }
        case nil:
            throw .wrongAudience
        default:
            throw .malformed("aud is not a string or array")
        }
        guard let exp = try date(claims, "exp") else { throw .missingClaim("exp") }
        guard now < exp + leeway else { throw .expired }
        if let nbf = try date(claims, "nbf"), now + leeway < nbf { throw .notYetValid }
        let iat = try date(claims, "iat")
        if let iat, now + leeway < iat { throw .issuedInFuture }
        if let maxAge {
            guard let iat else { throw .missingClaim("iat") }
            guard now - iat <= maxAge + leeway else { throw .tooOld }
        }
    }

    /// A NumericDate (RFC 7519 §2): a JSON number of seconds; fractions are truncated.
    private func date(_ claims: JSONObject, _ name: String) throws(JWTError) -> Int64? {
        guard let value = claims[name] else { return nil }
        guard case .number(let seconds) = value, seconds.isFinite, abs(seconds) < 1e15 else {
            throw .malformed("\(name) is not a number")
        }
        return Int64(seconds)
    }
}
