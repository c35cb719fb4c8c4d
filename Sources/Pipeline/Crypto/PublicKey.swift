internal import COpenSSL

/// A public key for verifying signatures: RSA, EC P-256 or Ed25519, read from a JWK (RFC 7517/
/// 7518 §6, RFC 8037) or PEM. Immutable once made, so one value serves concurrent requests.
///
/// ```swift
/// let key = try PublicKey(jwk: jwks["keys"][0])
/// let valid = key.verify(signature, for: signingInput, algorithm: .rs256)
/// ```
public final class PublicKey: @unchecked Sendable {
    // The EVP_PKEY is never modified after init; OpenSSL 3 allows concurrent use of a key.
    let pkey: OpaquePointer

    /// The smallest RSA modulus accepted (apt.md §6 pitfall 7).
    public static let minimumRSABits = 2048

    init(owning pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    /// Reads a `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM.
    public convenience init(pem: String) throws {
        guard let key = Self.read(pem: pem) else { throw CryptoError.unreadable("not a PEM public key") }
        self.init(owning: key)
        try checkStrength()
    }

    static func read(pem: String) -> OpaquePointer? {
        let bytes = Array(pem.utf8)
        return bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, { _, _, _, _ in 0 }, nil)
        }
    }

    /// Reads a JWK object. `kty` decides the form: `RSA` (`n`, `e`), `EC` (`crv` P-256, `x`, `y`)
    /// or `OKP` (`crv` Ed25519, `x`). A `use` other than `sig` is refused.
    public convenience init(jwk: JSONValue) throws {
        guard case .object(let object) = jwk else { throw CryptoError("JWK is not an object") }
        if let use = object["use"], use != .string("sig") { throw CryptoError("JWK \"use\" is not \"sig\"") }
        func field(_ name: String) throws -> [UInt8] {
            guard let text = object[name]?.string, let bytes = Base64URL.decode(text), !bytes.isEmpty else {
                throw CryptoError("JWK field \"\(name)\" is missing or not base64url")
            }
            return bytes
        }
        switch object["kty"]?.string {
        case "RSA":
            self.init(owning: try Self.rsa(modulus: try field("n"), exponent: try field("e")))
        case "EC":
            guard object["crv"]?.string == "P-256" else { throw CryptoError("JWK curve is not P-256") }
            let x = try field("x"), y = try field("y")
            guard x.count == 32, y.count == 32 else { throw CryptoError("JWK P-256 coordinates must be 32 bytes") }
            self.init(owning: try Self.p256(point: [0x04] + x + y))
        case "OKP":
            guard object["crv"]?.string == "Ed25519" else { throw CryptoError("JWK curve is not Ed25519") }
            let x = try field("x")
            guard x.count == 32 else { throw CryptoError("JWK Ed25519 key must be 32 bytes") }
            self.init(owning: try Self.ed25519(raw: x))
        case let other:
            throw CryptoError("JWK key type \(other.map { "\"\($0)\"" } ?? "missing") is not RSA, EC or OKP")
        }
        try checkStrength()
    }

    /// Which algorithm family the key belongs to.
    public var algorithms: [SignatureAlgorithm] {
        SignatureAlgorithm.allCases.filter { EVP_PKEY_is_a(pkey, $0.keyType) == 1 }
    }

    /// True when `signature` is valid for `message` under this key with `algorithm`. A key of
    /// another type than the algorithm needs never verifies (no RSA key used as ES256, etc.).
    public func verify(_ signature: [UInt8], for message: [UInt8], algorithm: SignatureAlgorithm) -> Bool {
        guard EVP_PKEY_is_a(pkey, algorithm.keyType) == 1 else { return false }
        var signature = signature
        if algorithm == .es256 {
            guard let der = ECDSASignature.der(fromRaw: signature, size: 32) else { return false }
            signature = der
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, algorithm.digest, nil, pkey) == 1 else {
            _ = OpenSSLError.drain()
            return false
        }
        let result = signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in EVP_DigestVerify(context, s.baseAddress, s.count, m.baseAddress, m.count) }
        }
        if result != 1 { _ = OpenSSLError.drain() }
        return result == 1
    }

    /// The key as a `-----BEGIN PUBLIC KEY-----` PEM.
    public var pem: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PUBKEY(bio, pkey) == 1 else { return "" }
        return String(decoding: MemoryBIO.read(bio), as: UTF8.self)
    }

    /// The key as a JWK with `kid` (and `alg`, `use`), as a JWKS document lists it.
    public func jwk(kid: String) -> JSONValue {
        var object = JSONObject()
        if EVP_PKEY_is_a(pkey, "RSA") == 1 {
            object["kty"] = "RSA"
            object["n"] = .string(Base64URL.encode(bignum("n", size: nil)))
            object["e"] = .string(Base64URL.encode(bignum("e", size: nil)))
            object["alg"] = "RS256"
        } else if EVP_PKEY_is_a(pkey, "EC") == 1 {
            object["kty"] = "EC"
            object["crv"] = "P-256"
            object["x"] = .string(Base64URL.encode(bignum("qx", size: 32)))
            object["y"] = .string(Base64URL.encode(bignum("qy", size: 32)))
            object["alg"] = "ES256"
        } else {
            var raw = [UInt8](repeating: 0, count: 32)
            var length = 32
            EVP_PKEY_get_raw_public_key(pkey, &raw, &length)
            object["kty"] = "OKP"
            object["crv"] = "Ed25519"
            object["x"] = .string(Base64URL.encode(raw.prefix(length)))
            object["alg"] = "EdDSA"
        }
        object["use"] = "sig"
        object["kid"] = .string(kid)
        return .object(object)
    }

    private func bignum(_ name: String, size: Int?) -> [UInt8] {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &number) == 1, let number else { return [] }
        defer { BN_free(number) }
        let length = size ?? Int((BN_num_bits(number) + 7) / 8)
        var out = [UInt8](repeating: 0, count: length)
        _ = out.withUnsafeMutableBufferPointer { BN_bn2binpad(number, $0.baseAddress, Int32(length)) }
        return out
    }

    /// Refuses weak keys: RSA below 2048 bits or with an exponent other than 65537, EC curves
    /// other than P-256.
    func checkStrength() throws {
        if EVP_PKEY_is_a(pkey, "RSA") == 1 {
            guard EVP_PKEY_get_bits(pkey) >= Self.minimumRSABits else { throw CryptoError("RSA key is shorter than \(Self.minimumRSABits) bits") }
            guard bignum("e", size: nil) == [0x01, 0x00, 0x01] else { throw CryptoError("RSA public exponent is not 65537") }
        } else if EVP_PKEY_is_a(pkey, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1,
                  ["prime256v1", "P-256"].contains(String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)) else {
                throw CryptoError("EC key is not on P-256")
            }
        } else if EVP_PKEY_is_a(pkey, "ED25519") != 1 {
            throw CryptoError("key type is not RSA, EC P-256 or Ed25519")
        }
    }

    static func ed25519(raw: [UInt8]) throws -> OpaquePointer {
        let key = raw.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }
        guard let key else { throw CryptoError.unreadable("invalid Ed25519 key") }
        return key
    }

    static func rsa(modulus: [UInt8], exponent: [UInt8]) throws -> OpaquePointer {
        // SubjectPublicKeyInfo (RFC 5280 §4.1) with rsaEncryption (RFC 8017 A.1), parsed by OpenSSL's own decoder.
        let rsaKey = DER.sequence([DER.integer(modulus), DER.integer(exponent)])
        let info = DER.sequence([DER.sequence([DER.rsaEncryption, DER.null]), DER.bitString(rsaKey)])
        return try decode(info, what: "RSA")
    }

    private static func p256(point: [UInt8]) throws -> OpaquePointer {
        // id-ecPublicKey with the prime256v1 curve (RFC 5480 §2); OpenSSL checks the point is on the curve.
        let info = DER.sequence([DER.sequence([DER.ecPublicKey, DER.prime256v1]), DER.bitString(point)])
        return try decode(info, what: "EC")
    }

    private static func decode(_ der: [UInt8], what: String) throws -> OpaquePointer {
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer = buffer.baseAddress
            return d2i_PUBKEY(nil, &pointer, buffer.count)
        }
        guard let key else { throw CryptoError.unreadable("invalid \(what) key") }
        return key
    }
}
