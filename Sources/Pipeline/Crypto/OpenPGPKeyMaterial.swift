internal import COpenSSL

// OpenPGP key material as OpenSSL keys, and the two signature operations OpenPGP signatures are
// made of (RFC 9580 §5.2.3.1): RSA PKCS#1 v1.5 over the DigestInfo of the digest, and EdDSA
// legacy over the digest bytes themselves. Both are deterministic, so one key, input and
// creation time always give the same signature.

extension PublicKey {
    /// The OpenSSL key for an OpenPGP key packet; RSA below 2048 bits or with an exponent other
    /// than 65537 is refused (`checkStrength`).
    convenience init(openPGP key: OpenPGPKeyPacket) throws {
        switch key.material {
        case .rsa(let modulus, let exponent): self.init(owning: try Self.rsa(modulus: modulus, exponent: exponent))
        case .ed25519(let point): self.init(owning: try Self.ed25519(raw: point))
        case .unsupported(let algorithm):
            throw CryptoError("OpenPGP: \(OpenPGPKeyPacket.algorithmName(algorithm)) keys are not supported (Ed25519 or RSA only)")
        }
        try checkStrength()
    }

    /// True when `mpis` (RSA: m^d; EdDSA: r, s) sign `digest` under this key.
    func verifyOpenPGP(_ mpis: [[UInt8]], digest: [UInt8], hash: OpenPGPHashAlgorithm) -> Bool {
        defer { _ = OpenSSLError.drain() }
        if EVP_PKEY_is_a(pkey, "ED25519") == 1 {
            guard mpis.count == 2, let r = OpenPGPMPI.padded(mpis[0], to: 32), let s = OpenPGPMPI.padded(mpis[1], to: 32) else { return false }
            guard let context = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(context) }
            let signature = r + s
            guard EVP_DigestVerifyInit(context, nil, nil, nil, pkey) == 1 else { return false }
            return signature.withUnsafeBufferPointer { sig in
                digest.withUnsafeBufferPointer { EVP_DigestVerify(context, sig.baseAddress, sig.count, $0.baseAddress, $0.count) }
            } == 1
        }
        guard EVP_PKEY_is_a(pkey, "RSA") == 1, mpis.count == 1,
              let signature = OpenPGPMPI.padded(mpis[0], to: Int(EVP_PKEY_get_size(pkey))),
              let context = EVP_PKEY_CTX_new(pkey, nil) else { return false }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_verify_init(context) == 1, EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1,
              EVP_PKEY_CTX_set_signature_md(context, hash.md) == 1 else { return false }
        return signature.withUnsafeBufferPointer { sig in
            digest.withUnsafeBufferPointer { EVP_PKEY_verify(context, sig.baseAddress, sig.count, $0.baseAddress, $0.count) }
        } == 1
    }
}

extension PrivateKey {
    /// An Ed25519 key from its 32-byte secret seed (an EdDSA legacy secret MPI, left-padded).
    static func ed25519(seed: [UInt8]) throws -> PrivateKey {
        let key = seed.withUnsafeBufferPointer { EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }
        guard let key else { throw CryptoError.unreadable("invalid Ed25519 secret key") }
        return PrivateKey(owning: key)
    }

    /// An RSA key from OpenPGP's secret MPIs (RFC 9580 §5.5.5.1: d, p, q; u is recomputed). The
    /// CRT values OpenSSL needs are derived here and the whole key is checked by OpenSSL
    /// (n = p·q, d·e ≡ 1, p and q prime), so a damaged or mismatched file is refused.
    static func rsa(modulus: [UInt8], exponent: [UInt8], d: [UInt8], p: [UInt8], q: [UInt8]) throws -> PrivateKey {
        guard let context = BN_CTX_new() else { throw CryptoError.openSSL("BN_CTX_new") }
        defer { BN_CTX_free(context) }
        var numbers: [OpaquePointer?] = []
        defer { for number in numbers { BN_clear_free(number) } }
        func bn(_ bytes: [UInt8]) -> OpaquePointer? {
            let number = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
            numbers.append(number)
            return number
        }
        func new() -> OpaquePointer? {
            let number = BN_new()
            numbers.append(number)
            return number
        }
        func bytes(_ number: OpaquePointer?) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: Int((BN_num_bits(number) + 7) / 8))
            _ = out.withUnsafeMutableBufferPointer { BN_bn2bin(number, $0.baseAddress) }
            return out
        }
        let dNumber = bn(d), pNumber = bn(p), qNumber = bn(q)
        let pMinus1 = new(), qMinus1 = new(), dp = new(), dq = new()
        guard BN_sub(pMinus1, pNumber, BN_value_one()) == 1, BN_sub(qMinus1, qNumber, BN_value_one()) == 1,
              BN_div(nil, dp, dNumber, pMinus1, context) == 1, BN_div(nil, dq, dNumber, qMinus1, context) == 1 else {
            throw CryptoError.openSSL("OpenPGP: RSA secret key arithmetic failed")
        }
        let inverse = BN_mod_inverse(nil, qNumber, pNumber, context)
        numbers.append(inverse)
        guard inverse != nil else { throw CryptoError("OpenPGP: the RSA secret key is inconsistent (q has no inverse mod p)") }
        // RSAPrivateKey (RFC 8017 A.1.2), read by OpenSSL's own decoder.
        let der = DER.sequence([[0x02, 0x01, 0x00]] + [modulus, exponent, d, p, q, bytes(dp), bytes(dq), bytes(inverse)].map(DER.integer))
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer = buffer.baseAddress
            return d2i_PrivateKey(EVP_PKEY_RSA, nil, &pointer, buffer.count)
        }
        guard let key else { throw CryptoError.unreadable("OpenPGP: invalid RSA secret key") }
        let made = PrivateKey(owning: key)
        guard let check = EVP_PKEY_CTX_new(key, nil) else { throw CryptoError.openSSL("EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(check) }
        guard EVP_PKEY_check(check) == 1 else {
            _ = OpenSSLError.drain()
            throw CryptoError("OpenPGP: the RSA secret key is inconsistent (its parts do not form one key)")
        }
        return made
    }

    /// The raw 32-byte seed and public key of an Ed25519 key (nil for other key types).
    var ed25519Raw: (seed: [UInt8], publicKey: [UInt8])? {
        guard EVP_PKEY_is_a(pkey, "ED25519") == 1 else { return nil }
        var seed = [UInt8](repeating: 0, count: 32), point = [UInt8](repeating: 0, count: 32)
        var seedLength = 32, pointLength = 32
        guard EVP_PKEY_get_raw_private_key(pkey, &seed, &seedLength) == 1, EVP_PKEY_get_raw_public_key(pkey, &point, &pointLength) == 1,
              seedLength == 32, pointLength == 32 else { return nil }
        return (seed, point)
    }

    /// The RSA modulus size in bits (0 for other key types).
    var rsaBits: Int { EVP_PKEY_is_a(pkey, "RSA") == 1 ? Int(EVP_PKEY_get_bits(pkey)) : 0 }

    /// The OpenPGP signature MPIs over `digest` (RSA: m^d; EdDSA: r, s).
    func signOpenPGP(digest: [UInt8], hash: OpenPGPHashAlgorithm) throws -> [[UInt8]] {
        if EVP_PKEY_is_a(pkey, "ED25519") == 1 {
            guard let context = EVP_MD_CTX_new() else { throw CryptoError.openSSL("EVP_MD_CTX_new") }
            defer { EVP_MD_CTX_free(context) }
            var signature = [UInt8](repeating: 0, count: 64)
            var length = 64
            guard EVP_DigestSignInit(context, nil, nil, nil, pkey) == 1,
                  digest.withUnsafeBufferPointer({ EVP_DigestSign(context, &signature, &length, $0.baseAddress, $0.count) }) == 1,
                  length == 64 else { throw CryptoError.openSSL("OpenPGP: Ed25519 signing failed") }
            return [Array(signature[0..<32]), Array(signature[32..<64])]
        }
        guard EVP_PKEY_is_a(pkey, "RSA") == 1, let context = EVP_PKEY_CTX_new(pkey, nil) else {
            throw CryptoError("OpenPGP: only Ed25519 and RSA keys sign")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var length = Int(EVP_PKEY_get_size(pkey))
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_sign_init(context) == 1, EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1,
              EVP_PKEY_CTX_set_signature_md(context, hash.md) == 1,
              digest.withUnsafeBufferPointer({ EVP_PKEY_sign(context, &signature, &length, $0.baseAddress, $0.count) }) == 1 else {
            throw CryptoError.openSSL("OpenPGP: RSA signing failed")
        }
        return [Array(signature.prefix(length))]
    }
}
