import Foundation

/// An OpenPGP public key as it is exchanged (a "transferable public key", RFC 9580 §10.1): a
/// v4 primary key, its user IDs and subkeys, each bound by a self-signature.
///
/// Reading one checks every self-signature it relies on and keeps only what verified: user IDs
/// with a valid certification by the primary key, and subkeys with a valid binding signature
/// (a signing subkey also needs its back-signature, §5.2.1.9). Third-party certifications,
/// encryption subkeys and algorithms other than Ed25519 (EdDSA legacy) and RSA are left out. A
/// revoked primary key, or one without any valid user ID, is refused, as gpgv and sqv refuse it.
///
/// ```swift
/// let keys = try OpenPGPCertificate.read(Array(armoredKeyFile.utf8))
/// print(keys[0].fingerprint, keys[0].userIDs)
/// try Data(keys[0].binary).write(to: keyGPG)     // apt's Signed-By keyring
/// ```
public struct OpenPGPCertificate: Sendable {
    /// A key of this certificate that may make data signatures.
    struct SigningKey: Sendable {
        let packet: OpenPGPKeyPacket
        let publicKey: PublicKey
        let isPrimary: Bool
        /// Absolute expiry in seconds since 1970 (the earlier of its own and the primary's).
        let expiration: UInt64?
    }

    let primary: OpenPGPKeyPacket
    let signingKeys: [SigningKey]
    /// The primary key's absolute expiry, nil when it never expires.
    let expiration: UInt64?
    /// The packets `binary` writes: the primary key, its direct-key signatures, each valid user
    /// ID with its newest certification, each signing subkey with its newest binding.
    let packets: [OpenPGPPacket]

    /// The primary key's v4 fingerprint, upper-case hex (40 digits), as gpg prints it.
    public var fingerprint: String { primary.fingerprintHex }
    /// The primary key's 64-bit key ID, upper-case hex (16 digits).
    public var keyID: String { primary.keyIDHex }
    /// When the primary key was made.
    public var created: Date { Date(timeIntervalSince1970: TimeInterval(primary.created)) }
    /// The user IDs with a valid self-certification, in the order of the key.
    public let userIDs: [String]
    /// The fingerprints of the keys that may sign data (the primary key first when it may).
    public var signingFingerprints: [String] { signingKeys.map(\.packet.fingerprintHex) }

    /// The binary key (what `gpg --export` writes, minus what did not verify): apt's `Signed-By`
    /// `.gpg` keyring. Its first byte is 0x98 or 0x99, which apt 3's sqv method requires.
    public var binary: [UInt8] { OpenPGPPacket.serialize(packets) }

    /// The armored key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`): `.asc` for apt, Terraform's
    /// `ascii_armor`.
    public var armored: String { OpenPGPArmor.encode(binary, as: .publicKey) }

    /// Every public key in `data`: armored text (one or more PUBLIC KEY BLOCKs) or binary
    /// packets (a keyring of one or more keys).
    public static func read(_ data: [UInt8]) throws -> [OpenPGPCertificate] {
        var packets: [OpenPGPPacket] = []
        if OpenPGPArmor.looksArmored(data) {
            for block in try OpenPGPArmor.decode(String(decoding: data, as: UTF8.self)) {
                guard block.kind == .publicKey else {
                    throw CryptoError("OpenPGP: expected a PUBLIC KEY BLOCK, found a \(block.kind.rawValue)")
                }
                packets += try OpenPGPPacket.parse(block.bytes)
            }
        } else {
            packets = try OpenPGPPacket.parse(data)
        }
        var certificates: [OpenPGPCertificate] = []
        var start = packets.startIndex
        while start < packets.endIndex {
            guard packets[start].knownTag == .publicKey else {
                throw CryptoError("OpenPGP: a key must start with a public key packet (found tag \(packets[start].tag))")
            }
            let end = packets[(start + 1)...].firstIndex { $0.knownTag == .publicKey } ?? packets.endIndex
            certificates.append(try OpenPGPCertificate(packets: packets[start..<end]))
            start = end
        }
        guard !certificates.isEmpty else { throw CryptoError("OpenPGP: no public key found") }
        return certificates
    }

    /// One transferable public key: a public key packet and what follows it up to the next one.
    init(packets input: ArraySlice<OpenPGPPacket>) throws {
        guard let first = input.first, first.knownTag == .publicKey else { throw CryptoError("OpenPGP: a key must start with a public key packet") }
        let primary = try OpenPGPKeyPacket(body: first.body)
        let primaryKey = try PublicKey(openPGP: primary)
        self.primary = primary

        // Group the packets after the primary key into its own signatures, user IDs and subkeys.
        var direct: [OpenPGPPacket] = []
        var components: [(packet: OpenPGPPacket, signatures: [OpenPGPPacket])] = []
        for packet in input.dropFirst() {
            switch packet.knownTag {
            case .signature:
                if components.isEmpty { direct.append(packet) } else { components[components.count - 1].signatures.append(packet) }
            case .userID, .userAttribute, .publicSubkey:
                components.append((packet, []))
            case .trust, .marker:
                continue
            default:
                throw CryptoError("OpenPGP: unexpected packet (tag \(packet.tag)) in a public key")
            }
        }

        // A signature by the primary key over the primary key and `extra`, or nil when it does
        // not verify (or is not the primary's): such signatures are ignored, not fatal.
        func verified(_ packet: OpenPGPPacket, _ types: Set<UInt8>, over extra: [UInt8]) -> OpenPGPSignaturePacket? {
            guard let signature = try? OpenPGPSignaturePacket(body: packet.body), types.contains(signature.type),
                  signature.mayBeIssued(by: primary),
                  (try? signature.check(hashInput: primary.hashInput + extra, key: primary, publicKey: primaryKey)) != nil else { return nil }
            return signature
        }
        func newest(_ list: [(OpenPGPSignaturePacket, OpenPGPPacket)]) -> (OpenPGPSignaturePacket, OpenPGPPacket)? {
            list.max { ($0.0.creationTime ?? 0) < ($1.0.creationTime ?? 0) }
        }

        typealias T = OpenPGPSignaturePacket.SignatureType
        if direct.contains(where: { verified($0, [T.keyRevocation.rawValue], over: []) != nil }) {
            throw CryptoError("OpenPGP: the key \(primary.fingerprintHex) is revoked")
        }
        let directSignatures = direct.compactMap { packet in verified(packet, [T.directKey.rawValue], over: []).map { ($0, packet) } }

        // User IDs: the newest valid self-certification of each one that is not revoked.
        let certifications = Set((0x10...0x13).map { UInt8($0) })
        var userIDs: [(id: String, packet: OpenPGPPacket, signature: OpenPGPSignaturePacket, signaturePacket: OpenPGPPacket)] = []
        for component in components where component.packet.knownTag == .userID {
            let input = [0xB4] + [UInt8].bigEndian(UInt32(component.packet.body.count)) + component.packet.body
            let revoked = component.signatures.contains { verified($0, [T.certificationRevocation.rawValue], over: input) != nil }
            let valid = component.signatures.compactMap { packet in verified(packet, certifications, over: input).map { ($0, packet) } }
            guard !revoked, let (signature, packet) = newest(valid) else { continue }
            userIDs.append((String(decoding: component.packet.body, as: UTF8.self), component.packet, signature, packet))
        }
        // The binding that decides the primary key's flags and expiry: the primary user ID's,
        // otherwise the newest (RFC 9580 §5.2.3.10, §5.2.3.19).
        guard let binding = userIDs.max(by: { ($0.signature.isPrimaryUserID ? 1 : 0, $0.signature.creationTime ?? 0) < ($1.signature.isPrimaryUserID ? 1 : 0, $1.signature.creationTime ?? 0) }) else {
            throw CryptoError("OpenPGP: the key \(primary.fingerprintHex) has no user ID with a valid self-signature (SHA-256 or better)")
        }
        let directBinding = newest(directSignatures)?.0
        let flags = binding.signature.keyFlags ?? directBinding?.keyFlags
        let lifetime = binding.signature.keyExpirationSeconds ?? directBinding?.keyExpirationSeconds
        let expiration = lifetime.map { UInt64(primary.created) + UInt64($0) }
        self.expiration = expiration

        var signingKeys: [SigningKey] = []
        if let flags, flags & 0x02 != 0 {
            signingKeys.append(SigningKey(packet: primary, publicKey: primaryKey, isPrimary: true, expiration: expiration))
        }
        var subkeyPackets: [OpenPGPPacket] = []
        for component in components where component.packet.knownTag == .publicSubkey {
            // A subkey this implementation cannot use (another algorithm, a weak RSA key) is left out.
            guard let subkey = try? OpenPGPKeyPacket(body: component.packet.body), let subkeyKey = try? PublicKey(openPGP: subkey) else { continue }
            let input = subkey.hashInput
            if component.signatures.contains(where: { verified($0, [T.subkeyRevocation.rawValue], over: input) != nil }) { continue }
            let bindings = component.signatures.compactMap { packet in verified(packet, [T.subkeyBinding.rawValue], over: input).map { ($0, packet) } }
            guard let (binding, bindingPacket) = newest(bindings), let flags = binding.keyFlags, flags & 0x02 != 0 else { continue }
            // The back-signature: the subkey's own signature over both keys, so nobody can claim
            // another person's signing subkey as theirs.
            let backSigned = binding.embeddedSignatures.contains { body in
                guard let back = try? OpenPGPSignaturePacket(body: body), back.type == T.primaryKeyBinding.rawValue, back.mayBeIssued(by: subkey) else { return false }
                return (try? back.check(hashInput: primary.hashInput + input, key: subkey, publicKey: subkeyKey)) != nil
            }
            guard backSigned else { continue }
            let own = binding.keyExpirationSeconds.map { UInt64(subkey.created) + UInt64($0) }
            let limit = [own, expiration].compactMap { $0 }.min()
            signingKeys.append(SigningKey(packet: subkey, publicKey: subkeyKey, isPrimary: false, expiration: limit))
            subkeyPackets += [component.packet, bindingPacket]
        }
        self.signingKeys = signingKeys
        self.userIDs = userIDs.map(\.id)
        packets = [first] + directSignatures.map(\.1) + userIDs.flatMap { [$0.packet, $0.signaturePacket] } + subkeyPackets
    }
}
