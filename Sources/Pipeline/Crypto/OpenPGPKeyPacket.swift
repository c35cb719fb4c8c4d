/// The public part of a v4 key packet (RFC 9580 §5.5.2): creation time, algorithm and key
/// material, and the fingerprint and key ID they define. The same fields open a secret key
/// packet (§5.5.3), so both readers start here.
struct OpenPGPKeyPacket: Sendable, Equatable {
    /// The key material of the algorithms this implementation signs and verifies with.
    enum Material: Sendable, Equatable {
        /// RSA (algorithm 1): modulus and public exponent.
        case rsa(modulus: [UInt8], exponent: [UInt8])
        /// EdDSA legacy (algorithm 22) on Ed25519: the 32-byte public key.
        case ed25519([UInt8])
        /// Any other algorithm (ECDH or ElGamal encryption subkeys, DSA, ...): kept so a key
        /// with such a subkey can be read, never used.
        case unsupported(algorithm: UInt8)
    }

    /// OID 1.3.6.1.4.1.11591.15.1 (Ed25519 for EdDSA legacy, RFC 9580 §9.2), with its length byte.
    static let ed25519OID: [UInt8] = [0x09, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01]

    let created: UInt32
    let material: Material
    /// The public key body as it was read or written: the fingerprint and every self-signature
    /// hash cover exactly these bytes.
    let body: [UInt8]
    /// SHA-1 over 0x99, the two-byte body length and the body (20 bytes).
    let fingerprint: [UInt8]

    var keyID: [UInt8] { Array(fingerprint.suffix(8)) }
    var fingerprintHex: String { Self.hex(fingerprint) }
    var keyIDHex: String { Self.hex(keyID) }

    var algorithm: UInt8 {
        switch material {
        case .rsa: 1
        case .ed25519: 22
        case .unsupported(let algorithm): algorithm
        }
    }

    /// A key from its material (key generation).
    init(created: UInt32, material: Material) {
        self.created = created
        self.material = material
        var body: [UInt8] = [4] + [UInt8].bigEndian(created)
        switch material {
        case .rsa(let modulus, let exponent): body += [1] + OpenPGPMPI.encode(modulus) + OpenPGPMPI.encode(exponent)
        case .ed25519(let point): body += [22] + Self.ed25519OID + OpenPGPMPI.encode([0x40] + point)
        case .unsupported: preconditionFailure("only supported keys are made")
        }
        self.body = body
        fingerprint = Self.fingerprint(ofBody: body)
    }

    /// A public key packet's whole body.
    init(body: [UInt8]) throws {
        var reader = OpenPGPReader(body, what: "public key packet")
        try self.init(reading: &reader)
        try reader.expectEnd()
    }

    /// Reads the public fields from the start of a public or secret key packet.
    init(reading reader: inout OpenPGPReader) throws {
        let start = reader.offset
        let version = try reader.byte()
        guard version == 4 else { throw CryptoError("OpenPGP: version \(version) keys are not supported (v4 only)") }
        created = try reader.uint32()
        let algorithm = try reader.byte()
        switch algorithm {
        case 1:
            let modulus = try reader.mpi()
            let exponent = try reader.mpi()
            material = .rsa(modulus: modulus, exponent: exponent)
        case 22:
            let oid = try reader.bytes(Int(try reader.byte()))
            let point = try reader.mpi()
            if [UInt8(oid.count)] + oid == Self.ed25519OID {
                guard point.count == 33, point[0] == 0x40 else { throw CryptoError("OpenPGP: an Ed25519 key's point is not 0x40 and 32 bytes") }
                material = .ed25519(Array(point.dropFirst()))
            } else {
                material = .unsupported(algorithm: algorithm)
            }
        default:
            // Other algorithms' public fields are read only to find where they end (a secret
            // packet's secret part follows) and to compute the fingerprint; they are never used.
            try Self.skipPublicFields(of: algorithm, &reader)
            material = .unsupported(algorithm: algorithm)
        }
        body = Array(reader.bytes[start..<reader.offset])
        fingerprint = Self.fingerprint(ofBody: body)
    }

    /// Reads past the public fields of algorithms that are not used here (RFC 9580 §5.5.5).
    private static func skipPublicFields(of algorithm: UInt8, _ reader: inout OpenPGPReader) throws {
        switch algorithm {
        case 2, 3: for _ in 0..<2 { _ = try reader.mpi() }           // RSA encrypt-only / sign-only: n, e
        case 16: for _ in 0..<3 { _ = try reader.mpi() }             // ElGamal: p, g, y
        case 17: for _ in 0..<4 { _ = try reader.mpi() }             // DSA: p, q, g, y
        case 19:                                                     // ECDSA: curve OID, point
            _ = try reader.bytes(Int(try reader.byte()))
            _ = try reader.mpi()
        case 18:                                                     // ECDH: curve OID, point, KDF parameters
            _ = try reader.bytes(Int(try reader.byte()))
            _ = try reader.mpi()
            _ = try reader.bytes(Int(try reader.byte()))
        case 25: _ = try reader.bytes(32)                            // X25519
        case 26: _ = try reader.bytes(56)                            // X448
        case 27: _ = try reader.bytes(32)                            // Ed25519 (RFC 9580)
        case 28: _ = try reader.bytes(57)                            // Ed448
        default: throw CryptoError("OpenPGP: unknown public key algorithm \(algorithm)")
        }
    }

    /// The v4 fingerprint of a public key body (RFC 9580 §5.5.4.2).
    static func fingerprint(ofBody body: [UInt8]) -> [UInt8] {
        Digest.sha1([0x99] + [UInt8].bigEndian16(body.count) + body)
    }

    /// What a key-hashing signature (certification, binding, revocation) hashes for this key
    /// (RFC 9580 §5.2.4): 0x99, the two-byte length, the body.
    var hashInput: [UInt8] { [0x99] + [UInt8].bigEndian16(body.count) + body }

    /// Upper-case hex, as gpg prints fingerprints and key IDs.
    static func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes).uppercased() }

    /// A human name for an algorithm number in messages.
    static func algorithmName(_ id: UInt8) -> String {
        [1: "RSA", 2: "RSA encrypt-only", 3: "RSA sign-only", 16: "ElGamal", 17: "DSA", 18: "ECDH", 19: "ECDSA", 22: "EdDSA",
         25: "X25519", 26: "X448", 27: "Ed25519 (RFC 9580)", 28: "Ed448"][Int(id)] ?? "algorithm \(id)"
    }
}
