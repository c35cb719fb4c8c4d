/// A v4 secret key or secret subkey packet (RFC 9580 §5.5.3): the public fields, then how the
/// secret part is protected, then the secret part. Only unprotected secrets are read (S2K usage
/// 0, the two-byte checksum checked); a protected one is refused with what to do instead.
enum OpenPGPSecretKeyPacket {
    /// The line a passphrase-protected key gets: the gateway never prompts for a passphrase.
    static let protectedKeyMessage = "the OpenPGP secret key is passphrase-protected: export it unprotected "
        + "(remove the passphrase with `gpg --change-passphrase KEYID`, then `gpg --export-secret-keys --armor KEYID`)"

    /// The public key packet inside a secret key packet.
    static func publicKey(ofBody body: [UInt8]) throws -> OpenPGPKeyPacket {
        var reader = OpenPGPReader(body, what: "secret key packet")
        return try OpenPGPKeyPacket(reading: &reader)
    }

    /// The private key a secret key packet holds, or nil when the file carries only a stub for
    /// it (GnuPG's S2K extension 101: `--export-secret-subkeys` or a smartcard key).
    static func privateKey(ofBody body: [UInt8]) throws -> PrivateKey? {
        var reader = OpenPGPReader(body, what: "secret key packet")
        let key = try OpenPGPKeyPacket(reading: &reader)
        let usage = try reader.byte()
        if usage == 254 || usage == 255 {
            _ = try reader.byte()                                   // symmetric algorithm
            let s2kType = try reader.byte()
            if s2kType == 101 {
                _ = try reader.byte()                               // hash algorithm
                let mode = try reader.bytes(4)                      // "GNU" and the mode
                if mode.prefix(3).elementsEqual("GNU".utf8), mode[3] == 1 || mode[3] == 2 { return nil }
            }
        }
        guard usage == 0 else { throw CryptoError(protectedKeyMessage) }
        let start = reader.offset
        let privateKey: PrivateKey
        switch key.material {
        case .rsa(let modulus, let exponent):
            let d = try reader.mpi(), p = try reader.mpi(), q = try reader.mpi()
            _ = try reader.mpi()                                    // u = p⁻¹ mod q, recomputed from p and q
            try checksum(&reader, from: start)
            privateKey = try PrivateKey.rsa(modulus: modulus, exponent: exponent, d: d, p: p, q: q)
        case .ed25519(let point):
            guard let seed = OpenPGPMPI.padded(try reader.mpi(), to: 32) else { throw CryptoError("OpenPGP: the Ed25519 secret is longer than 32 bytes") }
            try checksum(&reader, from: start)
            privateKey = try PrivateKey.ed25519(seed: seed)
            guard privateKey.ed25519Raw?.publicKey == point else { throw CryptoError("OpenPGP: the Ed25519 secret key does not match its public key") }
        case .unsupported(let algorithm):
            throw CryptoError("OpenPGP: \(OpenPGPKeyPacket.algorithmName(algorithm)) keys are not supported (Ed25519 or RSA only)")
        }
        try reader.expectEnd()
        return privateKey
    }

    /// The body of an unprotected secret key packet for an Ed25519 key (key generation).
    static func body(_ key: OpenPGPKeyPacket, ed25519Seed seed: [UInt8]) -> [UInt8] {
        let secret = OpenPGPMPI.encode(seed)
        return key.body + [0] + secret + [UInt8].bigEndian16(sum(secret))
    }

    /// The two-byte sum of the secret fields that follows them when unprotected.
    private static func checksum(_ reader: inout OpenPGPReader, from start: Int) throws {
        let expected = sum(reader.bytes[start..<reader.offset])
        guard try reader.uint16() == expected else { throw CryptoError("OpenPGP: the secret key's checksum does not match: the file is damaged") }
    }

    private static func sum(_ bytes: some Sequence<UInt8>) -> Int { bytes.reduce(0) { ($0 + Int($1)) & 0xFFFF } }
}
