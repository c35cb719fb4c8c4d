/// A JSON Web Token in compact JWS form (RFC 7519, RFC 7515 §7.1), parsed strictly but not yet
/// trusted: nothing in `header` or `claims` means anything until `JWTVerifier` has checked the
/// signature and the registered claims.
///
/// ```swift
/// let token = try JWT.encode(claims: ["iss": "https://issuer", "sub": "x"], key: key, algorithm: .rs256, keyID: "k1")
/// ```
public struct JWT: Sendable {
    public let header: JSONObject
    public let claims: JSONObject
    /// `base64url(header) "." base64url(payload)`, the bytes the signature covers.
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    /// Splits on exactly two dots and decodes each part: base64url without padding or whitespace,
    /// header and payload JSON objects, a non-empty signature. Headers with `crit` are refused
    /// (RFC 7515 §4.1.11: extensions this code does not understand).
    public init(parsing token: String, maxBytes: Int) throws(JWTError) {
        let bytes = Array(token.utf8)
        guard bytes.count <= maxBytes else { throw .tooLarge }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(String(decoding: parts[0], as: UTF8.self)),
              let payloadBytes = Base64URL.decode(String(decoding: parts[1], as: UTF8.self)),
              let signature = Base64URL.decode(String(decoding: parts[2], as: UTF8.self)), !signature.isEmpty else {
            throw .malformed("not three base64url parts")
        }
        guard case .object(let header)? = try? JSONParser.parse(headerBytes) else { throw .malformed("header is not a JSON object") }
        guard case .object(let claims)? = try? JSONParser.parse(payloadBytes) else { throw .malformed("payload is not a JSON object") }
        guard header["crit"] == nil else { throw .malformed("critical header extensions are not supported") }
        self.header = header
        self.claims = claims
        signingInput = Array(bytes[..<(parts[1].endIndex)])
        self.signature = signature
    }

    /// The `alg` header as written (it is checked against a pinned list before any key is used).
    public var algorithm: String? { header["alg"]?.string }

    /// The `kid` header: which key of the issuer's JWKS signed the token.
    public var keyID: String? { header["kid"]?.string }

    /// A claim as a string: strings as they are, integers in decimal, booleans as `true`/`false`.
    public func claim(_ name: String) -> String? { JWT.text(claims[name]) }

    /// A claim value as text: strings as they are, integers in decimal, booleans as `true`/`false`.
    public static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: s
        case .bool(let b)?: b ? "true" : "false"
        case .number? where value?.int != nil: String(value!.int!)
        default: nil
        }
    }

    /// Signs `claims` into a compact token (for tests, GitHub App JWTs, gateway-issued tokens).
    public static func encode(header extra: JSONObject = JSONObject(), claims: JSONObject, key: PrivateKey,
                              algorithm: SignatureAlgorithm, keyID: String? = nil) throws -> String {
        var header = JSONObject([("alg", .string(algorithm.rawValue)), ("typ", "JWT")])
        if let keyID { header["kid"] = .string(keyID) }
        for (name, value) in extra { header[name] = value }
        let input = Base64URL.encode(JSONValue.object(header).serialized()) + "." + Base64URL.encode(JSONValue.object(claims).serialized())
        let signature = try key.sign(Array(input.utf8), algorithm: algorithm)
        return input + "." + Base64URL.encode(signature)
    }
}

/// Why a token was refused. Descriptions are short and safe for logs (no token content).
public enum JWTError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge
    case malformed(String)
    case algorithmNotAllowed(String)
    case unknownKey
    case badSignature
    case expired
    case notYetValid
    case issuedInFuture
    case tooOld
    case wrongIssuer
    case wrongAudience
    case missingClaim(String)

    public var description: String {
        switch self {
        case .tooLarge: "token too large"
        case .malformed(let why): "malformed token: \(why)"
        case .algorithmNotAllowed(let alg): "algorithm \"\(alg.prefix(16))\" not allowed"
        case .unknownKey: "unknown signing key"
        case .badSignature: "bad signature"
        case .expired: "expired"
        case .notYetValid: "not yet valid (nbf)"
        case .issuedInFuture: "issued in the future (iat)"
        case .tooOld: "issued too long ago (iat)"
        case .wrongIssuer: "wrong issuer"
        case .wrongAudience: "wrong audience"
        case .missingClaim(let name): "missing claim \(name)"
        }
    }
}
