import Testing
@testable import Pipeline

/// The JWT attack list (issue 5): each test fails if the check it names is removed.
@Suite("JWT verification")
struct JWTVerifierTests {
    static let issuer = "https://token.actions.githubusercontent.com"
    static let audience = "https://apt.example.com"
    static let now: Int64 = 1_755_351_253
    static let rsa = try! PrivateKey.generate(.rsa(bits: 2048))
    static let ec = try! PrivateKey.generate(.p256)
    static let ed = try! PrivateKey.generate(.ed25519)

    let verifier: JWTVerifier = JWTVerifier(issuer: JWTVerifierTests.issuer, audiences: [JWTVerifierTests.audience])
    let keys: JWKSet = try! JWKSet(["keys": [try! JWTVerifierTests.rsa.publicKey.jwk(kid: "rsa1"), try! JWTVerifierTests.ec.publicKey.jwk(kid: "ec1"), try! JWTVerifierTests.ed.publicKey.jwk(kid: "ed1")]])

    /// GitHub Actions claims as the docs show them (apt.md §6), valid at `now`.
    static func claims(_ changes: [(String, JSONValue?)] = []) -> JSONObject {
        var claims = JSONObject([
            ("jti", "example-id"), ("sub", "repo:acme/tool:ref:refs/heads/main"), ("aud", .string(audience)),
            ("ref", "refs/heads/main"), ("repository", "acme/tool"), ("repository_id", "74"), ("repository_owner", "acme"),
            ("repository_owner_id", "65"), ("run_id", "1"), ("event_name", "push"), ("iss", .string(issuer)),
            ("nbf", .number(Double(now - 600))), ("exp", .number(Double(now + 300))), ("iat", .number(Double(now))),
        ])
        for (name, value) in changes { claims[name] = value }
        return claims
    }

    static func token(_ changes: [(String, JSONValue?)] = [], key: PrivateKey = rsa, algorithm: SignatureAlgorithm = .rs256,
                      kid: String? = "rsa1") -> String {
        try! JWT.encode(claims: claims(changes), key: key, algorithm: algorithm, keyID: kid)
    }

    /// A token with a hand-made header and signature (for algorithms the encoder refuses to make).
    static func forged(header: JSONValue, claims: JSONObject = claims(), signature: (String) -> [UInt8]) -> String {
        let input = Base64URL.encode(header.serialized()) + "." + Base64URL.encode(JSONValue.object(claims).serialized())
        let sig = signature(input)
        return input + "." + Base64URL.encode(sig)
    }

    func refusal(_ token: String, _ verifier: JWTVerifier? = nil, now: Int64 = now) -> JWTError? {
        do {
            _ = try (verifier ?? self.verifier).verify(token, keys: keys, now: now)
            return nil
        } catch {
            return error
        }
    }

    @Test("a genuine RS256 GitHub Actions token passes, and its claims read back")
    func genuine() throws {
        let jwt = try verifier.verify(Self.token(), keys: keys, now: Self.now)
        #expect(jwt.claim("repository") == "acme/tool")
        #expect(jwt.claim("repository_id") == "74")
    }

    @Test("alg none is refused in every spelling", arguments: ["none", "None", "NONE", "nOnE"])
    func algNone(_ alg: String) {
        let unsigned = Self.forged(header: ["alg": .string(alg), "typ": "JWT"]) { _ in [] }
        #expect(refusal(unsigned) != nil)
        let withJunk = Self.forged(header: ["alg": .string(alg), "kid": "rsa1"]) { _ in [1, 2, 3] }
        #expect(refusal(withJunk) == .algorithmNotAllowed(alg))
    }

    @Test("HS256 signed with the RSA public key as the HMAC secret is refused")
    func hmacConfusion() throws {
        let pem = try Self.rsa.publicKey.pem
        for secret in [pem, pem.trimmingASCIIWhitespace()] {
            let token = Self.forged(header: ["alg": "HS256", "typ": "JWT", "kid": "rsa1"]) { HMAC.sha256(key: Array(secret.utf8), data: Array($0.utf8)) }
            #expect(refusal(token) == .algorithmNotAllowed("HS256"))
        }
    }

    @Test("algorithms are pinned: a valid ES256 or EdDSA token is refused unless configured")
    func pinnedAlgorithms() {
        let es = Self.token(key: Self.ec, algorithm: .es256, kid: "ec1")
        let ed = Self.token(key: Self.ed, algorithm: .edDSA, kid: "ed1")
        #expect(refusal(es) == .algorithmNotAllowed("ES256"))
        #expect(refusal(ed) == .algorithmNotAllowed("EdDSA"))
        let open = JWTVerifier(issuer: Self.issuer, audiences: [Self.audience], algorithms: [.rs256, .es256, .edDSA])
        #expect(refusal(es, open) == nil)
        #expect(refusal(ed, open) == nil)
        // A key is only used for its own algorithm: the EC key's kid on an RS256 token does not verify.
        #expect(refusal(Self.token(kid: "ec1"), open) != nil)
    }

    @Test("expiry is enforced with the leeway, and exp is required")
    func expiry() {
        #expect(refusal(Self.token([("exp", .number(Double(Self.now - 61)))])) == .expired)
        #expect(refusal(Self.token([("exp", .number(Double(Self.now - 30)))])) == nil, "within 60 s leeway")
        #expect(refusal(Self.token(), now: Self.now + 361) == .expired)
        #expect(refusal(Self.token([("exp", nil)])) == .missingClaim("exp"))
        #expect(refusal(Self.token([("exp", "9999999999")])) == .malformed("exp is not a number"))
    }

    @Test("nbf and iat in the future are refused beyond the leeway")
    func notBefore() {
        #expect(refusal(Self.token([("nbf", .number(Double(Self.now + 120)))])) == .notYetValid)
        #expect(refusal(Self.token([("nbf", .number(Double(Self.now + 30)))])) == nil, "issuer clock a little ahead")
        #expect(refusal(Self.token([("iat", .number(Double(Self.now + 120)))])) == .issuedInFuture)
        var strict = verifier
        strict.leeway = 0
        #expect(refusal(Self.token([("nbf", .number(Double(Self.now + 30)))]), strict) == .notYetValid)
    }

    @Test("maxAge refuses old tokens and then requires iat")
    func maxAge() {
        var aged = verifier
        aged.maxAge = 600
        #expect(refusal(Self.token([("iat", .number(Double(Self.now - 1000)))]), aged) == .tooOld)
        #expect(refusal(Self.token([("iat", nil)]), aged) == .missingClaim("iat"))
        #expect(refusal(Self.token(), aged) == nil)
    }

    @Test("iss must match exactly", arguments: [
        "https://token.actions.githubusercontent.com.evil.com", "https://token.actions.githubusercontent.com/",
        "https://TOKEN.actions.githubusercontent.com", "http://token.actions.githubusercontent.com", "",
    ])
    func wrongIssuer(_ iss: String) {
        #expect(refusal(Self.token([("iss", .string(iss))])) == .wrongIssuer)
    }

    @Test("iss missing is refused")
    func missingIssuer() { #expect(refusal(Self.token([("iss", nil)])) == .wrongIssuer) }

    @Test("aud may be a string or an array but must contain the configured audience")
    func audience() {
        #expect(refusal(Self.token([("aud", nil)])) == .wrongAudience)
        #expect(refusal(Self.token([("aud", "https://github.com/acme")])) == .wrongAudience)
        #expect(refusal(Self.token([("aud", ["https://github.com/acme", "https://other"])])) == .wrongAudience)
        #expect(refusal(Self.token([("aud", ["https://github.com/acme", .string(Self.audience)])])) == nil)
        #expect(refusal(Self.token([("aud", [1])])) == .malformed("aud holds a non-string"))
        #expect(refusal(Self.token([("aud", 5)])) == .malformed("aud is not a string or array"))
    }

    @Test("an unknown kid, or none when the set has several keys, finds no key")
    func unknownKid() {
        #expect(refusal(Self.token(kid: "rotated-away")) == .unknownKey)
        #expect(refusal(Self.token(kid: nil)) == .unknownKey)
        let single = try! JWKSet(["keys": [try! Self.rsa.publicKey.jwk(kid: "rsa1")]])
        #expect((try? verifier.verify(Self.token(kid: nil), keys: single, now: Self.now)) != nil, "the only key may sign without kid")
    }

    @Test("a tampered payload, header or signature fails the signature check")
    func tampered() {
        let parts = Self.token().split(separator: ".").map(String.init)
        let evilClaims = Base64URL.encode(JSONValue.object(Self.claims([("repository_owner", "evil")])).serialized())
        #expect(refusal(parts[0] + "." + evilClaims + "." + parts[2]) == .badSignature)
        let header: JSONValue = ["alg": "RS256", "kid": "rsa1", "typ": "JWS"]
        let evilHeader = Base64URL.encode(header.serialized())
        #expect(refusal(evilHeader + "." + parts[1] + "." + parts[2]) == .badSignature)
        var signature = Base64URL.decode(parts[2])!
        signature[0] ^= 0x80
        #expect(refusal(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)) == .badSignature)
        // Signed by another key that claims the same kid.
        #expect(refusal(Self.token(key: try! PrivateKey.generate(.rsa(bits: 2048)))) == .badSignature)
    }

    @Test("a token over the size cap is refused before any parsing")
    func sizeCap() {
        let big = Self.token([("padding", .string(String(repeating: "x", count: 9000)))])
        #expect(refusal(big) == .tooLarge)
        var roomy = verifier
        roomy.maxTokenBytes = 16384
        #expect(refusal(big, roomy) == nil)
    }

    @Test("malformed compact forms are refused", arguments: [
        "a.b", "a.b.c.d", "", "..", "eyJhbGciOiJSUzI1NiJ9.e30.", " eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9=.e30.c2ln",
        "bm90IGpzb24.e30.c2ln", "W10.e30.c2ln",
    ])
    func malformed(_ token: String) {
        guard case .malformed? = refusal(token) else {
            Issue.record("expected malformed for \(token)")
            return
        }
    }

    @Test("crit headers and non-string kids are refused")
    func header() {
        let crit = Self.forged(header: ["alg": "RS256", "kid": "rsa1", "crit": ["b64"], "b64": false]) {
            try! Self.rsa.sign(Array($0.utf8), algorithm: .rs256)
        }
        #expect(refusal(crit) == .malformed("critical header extensions are not supported"))
        let numericKid = Self.forged(header: ["alg": "RS256", "kid": 1]) { try! Self.rsa.sign(Array($0.utf8), algorithm: .rs256) }
        #expect(refusal(numericKid) == .malformed("kid is not a string"))
    }
}
