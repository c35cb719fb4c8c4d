// libFuzzer entry for JWTs (RFC 7519) and JWKS documents (RFC 7517): JWT parsing, the pinned
// algorithm list, key lookup by kid, signature verification (RS256, ES256, EdDSA through
// OpenSSL), the registered-claim checks, and JWKSet/PublicKey(jwk:) on JSON inputs.
// Built by `make fuzz` (scripts/fuzz.sh lists the sources; links libcrypto).
//
// Besides "never crash" (ASan on), it checks:
// - a token that parses is exactly three canonical base64url parts (re-encoding each decoded part
//   gives its text back), its signing input is the text before the second dot, and its header
//   and claims serialize to JSON that parses back to the same objects;
// - a token verifies only if it is one this harness signed (fuzz/corpus-jwt/ holds them): no
//   mutation of a signed token, no algorithm or kid trick, passes the signature check;
// - claims that pass the registered-claim checks have the configured issuer and a usable exp.
//
// The keys below are throwaway fuzzing keys: they protect nothing.

let fuzzEd25519PEM = """
    -----BEGIN PRIVATE KEY-----
    MC4CAQAwBQYDK2VwBCIEIO+p1lSu4GvsbcDCyZwV7wwE/M+zFtoxLVqjtzDT5k51
    -----END PRIVATE KEY-----
    """

let fuzzRSAPEM = """
    -----BEGIN PRIVATE KEY-----
    MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCvrc3rCHvr9MIi
    QIeyDl5cMtsR0fQ4yVfnRBwiKRORM1iiv3ZraXAetFNa+AQhwbRQVaMd+Bpl46iX
    6HaoYySwI5oIiD+ASaG9khkkeI/LkB+CKqIw7+jfVyuftuj7DLZJGedGoq3r80l3
    +PpUJQxVqel0MHHgay3XBBSoZDd/XqAtX2QjT4C4w6joGVZuTrqLvztNU3YuJWwd
    0IhVm7m1OXF+asMAh6dsDacqgHBGwRs5JkrLUUBGMu7XBIaIhCUhCUIoRGmCuBmf
    z6Hiu01saOSiD8kfOl+8sHHxX9ef8xKV9fgT+QUDTdSc9XfBcpBPJitq7QdfezAn
    a0pFAlNTAgMBAAECggEAA+hNZzKLcbvCQaQbyzW58DpgAwJ0zc/fTlExKwACORLi
    Ss8QDDg5JTBaQPC5RCLx0W5GMC7KL4VOb6qHpnEmFMDbS+Celko3oxFye7bZbpao
    YhXJVmX6UQANrqy70TGphZtiOID6dgAK8fSDZNxkwixYTpxGkXjwzmfUfyD+LFgI
    o79wf296ecaCPdw3wGWmzI0PvCUKk7DwfDqI4ukie1mXE27QhRVF6se2JZH/EQwA
    GNTkyOtIrxOZGMrn88XbzCPvlENtpOiRTRkMigXvdcIw0lqZ4WUvE8WQhO/YDs+v
    gP5fJZLQcAiaqAurTmyhU4pMmP1RJB5/W5d9qAvfMQKBgQDqz/2gEb6BfeZ4h0KF
    CbjPrme+WV0ypFtcqfXfDUvA9Dy9bqlk1C5UitC6VenCt8B5qVJsfQHlgFGDmsPn
    ixy/Xw4V8Zalac0YCnKsvDNPuJWnJPt7KcfQMxeprgwJYv2xJIoSgZsXkRvFexAZ
    OZCYIjofEIwEEgZl+l13JZo7yQKBgQC/h95qSeMWTx84ZGNTeu+gXWVA6YW8/9We
    2T5lHvqMxxAQb24/dQjjaIh0tpcmyh3+UgKIz3CAABRRs47+aNwlL+jXD1Z/Xppq
    uS/x3ArNz6KMmVbEGGKc84B+w7PfVYhDaMd9JObpX/tgrt06kfaAqcwegjOt34Vj
    45yQDrAsOwKBgH4izqafAYxEGnsihbw7lbiSgo5BKQxcN+vWLQrt9ISpbrt/56UP
    SfgGPcvq/NCprs5sA6fdmxgyzxb4G0aVdxLiOAnXpkojRJYmfqWFz7aCfHm2JxVp
    Qzn3SD3RDgw4zfjLnRQF5U9KlvWFfwdd4eunbztiwyQonqFHVc/8NhbpAoGAfxiJ
    Jh0LvUUZ4ZD0PHRKyS7Qvwd3gNiACB3/AplRB9Qcu9tF3IQsNsOqMVDs8oeS6a3A
    Esscy0PCOAkgLYCl/WNSbku2SWUcsQ9cWnF7FeHf6s7iPdQ0tBP9w6DYHq6icqD4
    J/ox5NGVfS3sji5H1k9WrTQXWR0HZianQQ0OKPsCgYAsICfizHGFqzJpckNA1PzZ
    +vp0QiYmgiBmzy0102pgEtcwPpzlopANqAUP0pnN2Lh29wX+IZguSdm20FVpuEp8
    NhXdm2aSFrRQJQsGXRDXoO+T46f4y4RX5ZBZ6SlRUARsVRWzZTre16ecKC91mCTx
    XSXquxApfpgdJfWFTa7GNg==
    -----END PRIVATE KEY-----
    """

/// Unix time the fuzzer checks tokens at; the seed tokens are valid then.
let fuzzNow: Int64 = 1_800_000_000

struct JWTFuzzFixture: Sendable {
    let verifier = JWTVerifier(issuer: "https://issuer.example", audiences: ["gateway"], algorithms: [.rs256, .es256, .edDSA], maxAge: 3600)
    let keys: JWKSet
    let p256: PrivateKey
    /// The tokens this harness signed: the only ones that may verify.
    let signed: Set<String>

    init() {
        let ed = try! PrivateKey(pem: fuzzEd25519PEM)
        let rsa = try! PrivateKey(pem: fuzzRSAPEM)
        // ES256 signatures are random (and (r, n-s) is valid too), so the P-256 key is fresh and only
        // its key lookup and verification path are exercised, not the "only signed tokens" property.
        p256 = try! PrivateKey.generate(.p256)
        keys = try! JWKSet(["keys": .array([ed.publicKey.jwk(kid: "ed"), rsa.publicKey.jwk(kid: "rsa"), p256.publicKey.jwk(kid: "ec")])])
        signed = Set(Self.seeds(ed: ed, rsa: rsa))
    }

    static var claims: JSONObject {
        JSONObject([("iss", "https://issuer.example"), ("aud", .array(["gateway"])), ("sub", "repo:acme/tool:ref:refs/heads/main"),
                    ("exp", .number(Double(fuzzNow + 300))), ("nbf", .number(Double(fuzzNow - 60))), ("iat", .number(Double(fuzzNow - 10))),
                    ("repository_owner", "acme")])
    }

    /// Deterministic signatures (Ed25519, RSASSA-PKCS1-v1_5): the same tokens every run.
    static func seeds(ed: PrivateKey, rsa: PrivateKey) -> [String] {
        [try! JWT.encode(claims: claims, key: ed, algorithm: .edDSA, keyID: "ed"),
         try! JWT.encode(claims: claims, key: rsa, algorithm: .rs256, keyID: "rsa")]
    }
}

let jwtFixture = JWTFuzzFixture()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    let fixture = jwtFixture

    if let jwt = try? JWT(parsing: text, maxBytes: 8192) {
        let utf8 = Array(text.utf8)
        let parts = utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        precondition(parts.count == 3, "a token parsed without exactly three parts")
        for part in parts {
            let encoded = String(decoding: part, as: UTF8.self)
            precondition(Base64URL.encode(Base64URL.decode(encoded)!) == encoded, "a non-canonical base64url part was accepted: \(encoded)")
        }
        precondition(jwt.signingInput == Array(utf8[..<parts[1].endIndex]), "the signing input is not the text before the second dot")
        precondition(Base64URL.encode(jwt.signature) == String(decoding: parts[2], as: UTF8.self))
        for object in [jwt.header, jwt.claims] {
            let again = try? JSONParser.parse(JSONValue.object(object).serialized())
            precondition(again == .object(object), "header or claims do not round-trip")
        }
        _ = jwt.algorithm
        _ = jwt.keyID
        for name in ["sub", "aud", "exp", "repository_owner"] { _ = jwt.claim(name) }
        // The claim checks on their own, whatever the signature (the fuzzer cannot sign).
        if (try? fixture.verifier.checkClaims(jwt.claims, now: fuzzNow)) != nil {
            precondition(jwt.claims["iss"]?.string == fixture.verifier.issuer, "claims passed with another issuer")
            precondition(jwt.claims["exp"]?.number.map { $0 + 60 > Double(fuzzNow) } == true, "claims passed without a current exp")
        }
    }
    if (try? fixture.verifier.verify(text, keys: fixture.keys, now: fuzzNow)) != nil {
        precondition(fixture.signed.contains(text), "a token the harness did not sign verified: \(text)")
    }
    // JWKS documents: every key type, bad sizes, missing fields.
    if let document = try? JSONParser.parse(bytes), let set = try? JWKSet(document) {
        for id in ["ed", "rsa", "ec", nil] as [String?] {
            for algorithm in SignatureAlgorithm.allCases {
                if let key = set.key(id: id, algorithm: algorithm) {
                    _ = key.verify([UInt8](repeating: 1, count: 64), for: Array("input".utf8), algorithm: algorithm)
                }
            }
        }
    }
    return 0
}
