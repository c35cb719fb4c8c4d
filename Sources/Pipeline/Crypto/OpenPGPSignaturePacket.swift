/// A v4 signature packet (RFC 9580 §5.2.3): what it signs (its type), who made it, when, and
/// the signature values. Reading checks only the structure; `check(...)` decides validity.
struct OpenPGPSignaturePacket: Sendable, Equatable {
    /// Signature types (RFC 9580 §5.2.1) this implementation makes or evaluates.
    enum SignatureType: UInt8 {
        case binary = 0x00
        case text = 0x01
        case genericCertification = 0x10
        case personaCertification = 0x11
        case casualCertification = 0x12
        case positiveCertification = 0x13
        case subkeyBinding = 0x18
        case primaryKeyBinding = 0x19
        case directKey = 0x1F
        case keyRevocation = 0x20
        case subkeyRevocation = 0x28
        case certificationRevocation = 0x30

        var isCertification: Bool { (0x10...0x13).contains(rawValue) }
    }

    let type: UInt8
    let algorithm: UInt8
    let hashID: UInt8
    /// The hashed subpacket area exactly as read: the signature covers these bytes.
    let hashedArea: [UInt8]
    let hashed: [OpenPGPSubpacket]
    let unhashed: [OpenPGPSubpacket]
    let hashPrefix: [UInt8]
    /// RSA: [m^d]; EdDSA: [r, s]; other algorithms: empty (never verified).
    let mpis: [[UInt8]]

    var signatureType: SignatureType? { SignatureType(rawValue: type) }

    /// Reads a signature packet's body. Versions other than 4 are refused.
    init(body: [UInt8]) throws {
        var reader = OpenPGPReader(body, what: "signature packet")
        let version = try reader.byte()
        guard version == 4 else { throw CryptoError("OpenPGP: version \(version) signatures are not supported (v4 only)") }
        type = try reader.byte()
        algorithm = try reader.byte()
        hashID = try reader.byte()
        hashedArea = try reader.bytes(try reader.uint16())
        hashed = try OpenPGPSubpacket.parse(area: hashedArea)
        unhashed = try OpenPGPSubpacket.parse(area: try reader.bytes(try reader.uint16()))
        hashPrefix = try reader.bytes(2)
        switch algorithm {
        case 1: mpis = [try reader.mpi()]
        case 22: mpis = [try reader.mpi(), try reader.mpi()]
        default:
            _ = reader.rest()
            mpis = []
        }
        try reader.expectEnd()
    }

    /// A signature made here: the hash input is the data (or key packets) to sign; the
    /// trailer is appended before hashing (RFC 9580 §5.2.4).
    init(type: SignatureType, signer key: OpenPGPKeyPacket, privateKey: PrivateKey, hash: OpenPGPHashAlgorithm,
         hashed: [OpenPGPSubpacket], unhashed: [OpenPGPSubpacket], hashInput: [UInt8]) throws {
        self.type = type.rawValue
        algorithm = key.algorithm
        hashID = hash.rawValue
        hashedArea = hashed.flatMap(\.serialized)
        guard hashedArea.count < 65536 else { throw CryptoError("OpenPGP: too many hashed subpackets") }
        self.hashed = hashed
        self.unhashed = unhashed
        let digest = Self.digest(hash, hashInput, trailer: Self.trailer(type: type.rawValue, algorithm: key.algorithm, hash: hash.rawValue, hashedArea: hashedArea))
        hashPrefix = Array(digest.prefix(2))
        mpis = try privateKey.signOpenPGP(digest: digest, hash: hash)
    }

    /// The packet body.
    var body: [UInt8] {
        let unhashedArea = unhashed.flatMap(\.serialized)
        return [4, type, algorithm, hashID] + [UInt8].bigEndian16(hashedArea.count) + hashedArea
            + [UInt8].bigEndian16(unhashedArea.count) + unhashedArea + hashPrefix + mpis.flatMap(OpenPGPMPI.encode)
    }

    var packet: OpenPGPPacket { OpenPGPPacket(.signature, body: body) }

    /// The v4 trailer hashed after the signed data: version, type, algorithms, the hashed area,
    /// then 0x04 0xFF and the length of what came before as four bytes.
    static func trailer(type: UInt8, algorithm: UInt8, hash: UInt8, hashedArea: [UInt8]) -> [UInt8] {
        let head = [4, type, algorithm, hash] + [UInt8].bigEndian16(hashedArea.count) + hashedArea
        return head + [4, 0xFF] + [UInt8].bigEndian(UInt32(head.count))
    }

    static func digest(_ hash: OpenPGPHashAlgorithm, _ input: [UInt8], trailer: [UInt8]) -> [UInt8] {
        let hasher = OpenPGPHasher(hash)
        hasher.update(input)
        hasher.update(trailer)
        return hasher.finalize()
    }

    // MARK: What the subpackets say (only the hashed area is trusted, except for the issuer).

    private func hashedValue(_ kind: OpenPGPSubpacket.Kind) -> OpenPGPSubpacket? { hashed.first { $0.type == kind.rawValue } }

    /// Signature creation time (must be in the hashed area, RFC 9580 §5.2.3.11).
    var creationTime: UInt32? { hashedValue(.creationTime)?.uint32 }

    /// When the signature stops being valid (absolute seconds), nil when never.
    var expirationTime: UInt64? {
        guard let seconds = hashedValue(.signatureExpiration)?.uint32, seconds != 0, let created = creationTime else { return nil }
        return UInt64(created) + UInt64(seconds)
    }

    /// Key validity period in seconds after the key's creation; nil when none or 0 (never).
    var keyExpirationSeconds: UInt32? {
        guard let seconds = hashedValue(.keyExpiration)?.uint32, seconds != 0 else { return nil }
        return seconds
    }

    /// The first key-flags byte (0x01 certify, 0x02 sign), nil when the subpacket is absent.
    var keyFlags: UInt8? { hashedValue(.keyFlags)?.data.first }

    var isPrimaryUserID: Bool { hashedValue(.primaryUserID)?.data.first.map { $0 != 0 } ?? false }

    /// The issuer's v4 fingerprint (subpacket 33, hashed or not: it only picks the key to try).
    var issuerFingerprint: [UInt8]? {
        (hashed + unhashed).lazy.filter { $0.type == OpenPGPSubpacket.Kind.issuerFingerprint.rawValue }
            .compactMap { $0.data.count == 21 && $0.data[0] == 4 ? Array($0.data.dropFirst()) : nil }.first
    }

    /// The issuer's key ID (subpacket 16, or the low bytes of subpacket 33).
    var issuerKeyID: [UInt8]? {
        (hashed + unhashed).first { $0.type == OpenPGPSubpacket.Kind.issuerKeyID.rawValue && $0.data.count == 8 }?.data
            ?? issuerFingerprint.map { Array($0.suffix(8)) }
    }

    /// Whether `key` may have made this signature, by the issuer subpackets (absent ones allow it).
    func mayBeIssued(by key: OpenPGPKeyPacket) -> Bool {
        if let fingerprint = issuerFingerprint { return fingerprint == key.fingerprint }
        if let keyID = issuerKeyID { return keyID == key.keyID }
        return true
    }

    /// Embedded signatures (subpacket 32), e.g. a signing subkey's back-signature.
    var embeddedSignatures: [[UInt8]] {
        (hashed + unhashed).filter { $0.type == OpenPGPSubpacket.Kind.embeddedSignature.rawValue }.map(\.data)
    }

    /// Checks this signature over `hashInput` (the data or key packets; the trailer is added
    /// here) against `key`. Throws a reason when the signature is unusable or does not verify:
    /// algorithm or digest not supported, creation time missing, an unknown critical subpacket,
    /// a hash prefix that does not match the digest, or a bad signature.
    func check(hashInput: [UInt8], key: OpenPGPKeyPacket, publicKey: PublicKey) throws {
        guard algorithm == key.algorithm, !mpis.isEmpty else {
            throw CryptoError("OpenPGP: the signature's algorithm (\(OpenPGPKeyPacket.algorithmName(algorithm))) is not the key's")
        }
        let hash = try OpenPGPHashAlgorithm(id: hashID)
        if let unknown = (hashed + unhashed).first(where: \.isUnknownCritical) {
            throw CryptoError("OpenPGP: the signature has an unknown critical subpacket (type \(unknown.type))")
        }
        guard creationTime != nil else { throw CryptoError("OpenPGP: the signature has no hashed creation time") }
        let digest = Self.digest(hash, hashInput, trailer: Self.trailer(type: type, algorithm: algorithm, hash: hashID, hashedArea: hashedArea))
        guard digest.prefix(2).elementsEqual(hashPrefix) else {
            throw CryptoError("OpenPGP: the signature does not match (its digest prefix differs: wrong data or key)")
        }
        guard publicKey.verifyOpenPGP(mpis, digest: digest, hash: hash) else { throw CryptoError("OpenPGP: BAD signature") }
    }
}
