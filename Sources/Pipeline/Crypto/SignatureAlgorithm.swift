internal import COpenSSL

/// The asymmetric signature algorithms the gateway verifies and creates, by their JWS names
/// (RFC 7518 §3, RFC 8037 §3.1). Symmetric `HS*` and `none` are deliberately absent: a JWT
/// verifier that cannot name them cannot be confused into using them.
public enum SignatureAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case rs256 = "RS256"
    /// ECDSA on P-256 with SHA-256; signatures are raw `r || s`, 64 bytes.
    case es256 = "ES256"
    /// Ed25519.
    case edDSA = "EdDSA"

    /// The key type the algorithm needs, as OpenSSL names it.
    var keyType: String {
        switch self {
        case .rs256: "RSA"
        case .es256: "EC"
        case .edDSA: "ED25519"
        }
    }

    /// The digest passed to EVP_DigestSign/Verify (none for Ed25519, which hashes internally).
    var digest: OpaquePointer? {
        switch self {
        case .rs256, .es256: EVP_sha256()
        case .edDSA: nil
        }
    }
}

/// Conversion between JWS's fixed-size `r || s` ECDSA signatures (RFC 7518 §3.4) and the DER
/// `ECDSA-Sig-Value` OpenSSL uses.
enum ECDSASignature {
    static func der(fromRaw raw: [UInt8], size: Int) -> [UInt8]? {
        guard raw.count == 2 * size, let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(size), nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + size, Int32(size), nil) }
        guard let r, let s else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        guard ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(signature, &out)
        guard length > 0, let out else { return nil }
        defer { copenssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    static func raw(fromDER der: [UInt8], size: Int) -> [UInt8]? {
        var result: [UInt8]?
        der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let signature = d2i_ECDSA_SIG(nil, &pointer, buffer.count) else { return }
            defer { ECDSA_SIG_free(signature) }
            guard let r = ECDSA_SIG_get0_r(signature), let s = ECDSA_SIG_get0_s(signature) else { return }
            var out = [UInt8](repeating: 0, count: 2 * size)
            let ok = out.withUnsafeMutableBufferPointer { o in
                BN_bn2binpad(r, o.baseAddress, Int32(size)) == Int32(size) && BN_bn2binpad(s, o.baseAddress! + size, Int32(size)) == Int32(size)
            }
            if ok { result = out }
        }
        return result
    }
}
