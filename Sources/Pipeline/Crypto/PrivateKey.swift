internal import COpenSSL

/// A private key that signs: RSA (RS256, e.g. GitHub App JWTs), EC P-256 (ES256) or Ed25519
/// (EdDSA). Read from PEM (PKCS#1, SEC1 or PKCS#8, unencrypted) or generated (tests, dev keys).
///
/// ```swift
/// let key = try PrivateKey(pem: pemText)
/// let signature = try key.sign(Array("input".utf8), algorithm: .rs256)
/// ```
public final class PrivateKey: @unchecked Sendable {
    // Never modified after init; OpenSSL 3 allows concurrent signing with one key.
    let pkey: OpaquePointer

    /// What `generate` makes.
    public enum Kind: Sendable {
        case rsa(bits: Int)
        case p256
        case ed25519
    }

    init(owning pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    /// Reads an unencrypted private key PEM. Encrypted keys are refused rather than prompted for.
    public convenience init(pem: String) throws {
        let bytes = Array(pem.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            // A callback that supplies no passphrase: OpenSSL's default would read the terminal.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let key else { throw CryptoError.unreadable("not an unencrypted PEM private key") }
        self.init(owning: key)
        guard !algorithms.isEmpty else { throw CryptoError("private key type is not RSA, EC P-256 or Ed25519") }
    }

    /// A fresh key.
    public static func generate(_ kind: Kind) throws -> PrivateKey {
        let name: String
        switch kind {
        case .rsa: name = "RSA"
        case .p256: name = "EC"
        case .ed25519: name = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, name, nil) else { throw CryptoError.openSSL("\(name) unavailable") }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else { throw CryptoError.openSSL("keygen init") }
        switch kind {
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else { throw CryptoError.openSSL("RSA bits") }
        case .p256:
            guard EVP_PKEY_CTX_set_group_name(context, "P-256") == 1 else { throw CryptoError.openSSL("P-256") }
        case .ed25519:
            break
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else { throw CryptoError.openSSL("key generation failed") }
        return PrivateKey(owning: key)
    }

    /// The algorithms this key can sign with.
    public var algorithms: [SignatureAlgorithm] {
        SignatureAlgorithm.allCases.filter { algorithm in
            guard EVP_PKEY_is_a(pkey, algorithm.keyType) == 1 else { return false }
            guard algorithm == .es256 else { return true }
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else { return false }
            return ["prime256v1", "P-256"].contains(String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    /// Signs `message`. ES256 signatures come back in JWS form (`r || s`, 64 bytes).
    public func sign(_ message: [UInt8], algorithm: SignatureAlgorithm) throws -> [UInt8] {
        guard algorithms.contains(algorithm) else { throw CryptoError("this key cannot sign \(algorithm.rawValue)") }
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, algorithm.digest, nil, pkey) == 1 else { throw CryptoError.openSSL("sign init") }
        // EVP_PKEY_get_size is the largest signature the key makes (DER ECDSA included).
        var length = Int(EVP_PKEY_get_size(pkey))
        var signature = [UInt8](repeating: 0, count: length)
        let ok = message.withUnsafeBufferPointer { m in
            signature.withUnsafeMutableBufferPointer { EVP_DigestSign(context, $0.baseAddress, &length, m.baseAddress, m.count) }
        }
        guard ok == 1 else { throw CryptoError.openSSL("sign") }
        signature = Array(signature.prefix(length))
        if algorithm == .es256 {
            guard let raw = ECDSASignature.raw(fromDER: signature, size: 32) else { throw CryptoError("ECDSA signature conversion failed") }
            return raw
        }
        return signature
    }

    /// The matching public key.
    public var publicKey: PublicKey {
        get throws {
            guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openSSL("BIO_new") }
            defer { BIO_free(bio) }
            guard PEM_write_bio_PUBKEY(bio, pkey) == 1 else { throw CryptoError.openSSL("public key export") }
            // Not strength-checked: the caller owns this key (tests make small ones on purpose).
            guard let key = PublicKey.read(pem: String(decoding: MemoryBIO.read(bio), as: UTF8.self)) else {
                throw CryptoError.openSSL("public key export")
            }
            return PublicKey(owning: key)
        }
    }

    /// The key as an unencrypted PKCS#8 PEM (for writing test and development key files).
    public var pem: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1 else { return "" }
        return String(decoding: MemoryBIO.read(bio), as: UTF8.self)
    }
}
