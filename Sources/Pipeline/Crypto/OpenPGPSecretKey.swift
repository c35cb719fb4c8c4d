import Foundation

/// An OpenPGP secret key that signs: what `gpg --export-secret-keys --armor` writes for an
/// unprotected v4 key, or what `generate` makes.
///
/// Supported: an Ed25519 (EdDSA legacy, algorithm 22) or RSA (at least 3072 bits) key whose
/// primary key may sign (gpg's default, flags "SC"), or whose signing subkey has a valid binding
/// and back-signature (a certify-only primary, or a file from `--export-secret-subkeys` whose
/// primary secret is a stub). The primary key is used when it may sign, otherwise the newest
/// signing subkey. A passphrase-protected key, several keys in one file, another algorithm or a
/// smaller RSA key are refused with a one-line reason.
///
/// ```swift
/// let key = try OpenPGPSecretKey.read(Array(try Data(contentsOf: signingKeyFile)))
/// let inRelease = try OpenPGPSigner(key: key).clearsign(release, at: newestAssetTime)
/// ```
public struct OpenPGPSecretKey: Sendable {
    /// The smallest RSA modulus signed with: apt 3's policy has 2048 warned a year ahead and
    /// rejected from 2030 (apt.md §0 rule 7), so new signatures need 3072.
    public static let minimumRSASigningBits = 3072

    /// The public half: what clients are given to verify signatures.
    public let certificate: OpenPGPCertificate
    let signingKey: OpenPGPCertificate.SigningKey
    let privateKey: PrivateKey
    /// The packets as read (or made), for `armored`.
    let secretPackets: [OpenPGPPacket]

    /// The fingerprint of the key that signs (the primary's, or a subkey's).
    public var signingFingerprint: String { signingKey.packet.fingerprintHex }
    /// The key ID of the key that signs.
    public var signingKeyID: String { signingKey.packet.keyIDHex }

    /// The secret key as an armored `PRIVATE KEY BLOCK`, unprotected (keep it secret).
    public var armored: String { OpenPGPArmor.encode(OpenPGPPacket.serialize(secretPackets), as: .privateKey) }

    /// Reads a key file's bytes: armored (as `gpg --export-secret-keys --armor` writes it) or binary.
    public static func read(_ data: [UInt8]) throws -> OpenPGPSecretKey {
        if OpenPGPArmor.looksArmored(data) { return try OpenPGPSecretKey(armored: String(decoding: data, as: UTF8.self)) }
        return try OpenPGPSecretKey(binary: data)
    }

    /// Reads an armored secret key (one `PRIVATE KEY BLOCK` holding one key).
    public init(armored text: String) throws {
        try self.init(binary: try OpenPGPArmor.decodeSingle(text, as: .privateKey))
    }

    /// Reads a binary secret key (`gpg --export-secret-keys` without `--armor`).
    public init(binary: [UInt8]) throws {
        try self.init(packets: try OpenPGPPacket.parse(binary))
    }

    init(packets: [OpenPGPPacket]) throws {
        guard packets.first?.knownTag == .secretKey else {
            let what = packets.first?.knownTag == .publicKey ? "a public key, not a secret key" : "not a secret key"
            throw CryptoError("OpenPGP: the file holds \(what) (export it with gpg --export-secret-keys --armor)")
        }
        // The certificate is read from the public halves; the secrets stay in their packets
        // until the key that signs is chosen, so an encryption subkey's secret is never parsed.
        var publicPackets: [OpenPGPPacket] = []
        var secretBodies: [[UInt8]: [UInt8]] = [:]
        var skipping = false
        for packet in packets {
            switch packet.knownTag {
            case .secretKey:
                guard publicPackets.isEmpty else { throw CryptoError("OpenPGP: the file holds more than one secret key; export just the signing key") }
                let key = try OpenPGPSecretKeyPacket.publicKey(ofBody: packet.body)
                secretBodies[key.fingerprint] = packet.body
                publicPackets.append(OpenPGPPacket(.publicKey, body: key.body))
                skipping = false
            case .secretSubkey:
                // A subkey of an algorithm whose fields are unknown is left out with its signatures.
                guard let key = try? OpenPGPSecretKeyPacket.publicKey(ofBody: packet.body) else {
                    skipping = true
                    continue
                }
                secretBodies[key.fingerprint] = packet.body
                publicPackets.append(OpenPGPPacket(.publicSubkey, body: key.body))
                skipping = false
            case .signature:
                if !skipping { publicPackets.append(packet) }
            default:
                publicPackets.append(packet)
                skipping = false
            }
        }
        let certificate = try OpenPGPCertificate(packets: publicPackets[...])
        guard !certificate.signingKeys.isEmpty else {
            throw CryptoError("OpenPGP: the key \(certificate.fingerprint) cannot sign (neither its primary key nor a subkey has the sign flag with a valid self-signature)")
        }
        // The primary key when it may sign, otherwise the newest signing subkey.
        let candidates = certificate.signingKeys.filter(\.isPrimary) + certificate.signingKeys.filter { !$0.isPrimary }.sorted { $0.packet.created > $1.packet.created }
        var chosen: (OpenPGPCertificate.SigningKey, PrivateKey)?
        for candidate in candidates {
            guard let body = secretBodies[candidate.packet.fingerprint], let privateKey = try OpenPGPSecretKeyPacket.privateKey(ofBody: body) else { continue }
            chosen = (candidate, privateKey)
            break
        }
        guard let (signingKey, privateKey) = chosen else {
            throw CryptoError("OpenPGP: the file holds no secret for a signing key (only stubs: export the key itself, not --export-secret-subkeys of another one)")
        }
        if case .rsa = signingKey.packet.material, privateKey.rsaBits < Self.minimumRSASigningBits {
            throw CryptoError("OpenPGP: the RSA signing key has \(privateKey.rsaBits) bits; at least \(Self.minimumRSASigningBits) are needed (or use an Ed25519 key: gateway apt keygen)")
        }
        self.certificate = certificate
        self.signingKey = signingKey
        self.privateKey = privateKey
        secretPackets = packets
    }

    /// A new Ed25519 key (EdDSA legacy, as gpg makes by default) for `userID`, e.g.
    /// `"Example APT repository <apt@example.com>"`, made at `created`: certify and sign flags, no
    /// expiry unless `validFor` is given (whole seconds after `created`), a SHA-512 positive
    /// self-certification with the preferences gpg writes. gpg, gpgv, sqv and apt accept it
    /// (apt.md §4.4 lists the parts each requires).
    public static func generate(userID: String, created: Date, validFor: TimeInterval? = nil) throws -> OpenPGPSecretKey {
        guard !userID.isEmpty, !userID.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw CryptoError("OpenPGP: a user ID must be non-empty text without control characters")
        }
        let time = try OpenPGPSigner.seconds(created)
        var lifetime: [OpenPGPSubpacket] = []
        if let validFor {
            guard validFor >= 1, validFor < 4_294_967_296 else { throw CryptoError("OpenPGP: a key's validity must be between 1 second and 136 years") }
            lifetime = [OpenPGPSubpacket(.keyExpiration, .bigEndian(UInt32(validFor)))]
        }
        let privateKey = try PrivateKey.generate(.ed25519)
        guard let raw = privateKey.ed25519Raw else { throw CryptoError("OpenPGP: Ed25519 key generation failed") }
        let key = OpenPGPKeyPacket(created: time, material: .ed25519(raw.publicKey))
        let uid = Array(userID.utf8)
        let hashed: [OpenPGPSubpacket] = [
            OpenPGPSubpacket(.issuerFingerprint, [4] + key.fingerprint),
            OpenPGPSubpacket(.creationTime, .bigEndian(time)),
            OpenPGPSubpacket(.keyFlags, [0x03]),                       // certify, sign
        ] + lifetime + [
            OpenPGPSubpacket(.preferredSymmetric, [9, 8, 7]),          // AES-256, AES-192, AES-128
            OpenPGPSubpacket(.preferredHash, [10, 9, 8]),              // SHA-512, SHA-384, SHA-256
            OpenPGPSubpacket(.preferredCompression, [2, 3, 1]),
            OpenPGPSubpacket(.features, [0x01]),                       // modification detection
            OpenPGPSubpacket(.keyServerPreferences, [0x80]),           // no-modify
        ]
        let selfSignature = try OpenPGPSignaturePacket(
            type: .positiveCertification, signer: key, privateKey: privateKey, hash: .sha512,
            hashed: hashed, unhashed: [OpenPGPSubpacket(.issuerKeyID, key.keyID)],
            hashInput: key.hashInput + [0xB4] + [UInt8].bigEndian(UInt32(uid.count)) + uid)
        // Read back through the same path as a key file, so a generated key is checked like any other.
        return try OpenPGPSecretKey(packets: [
            OpenPGPPacket(.secretKey, body: OpenPGPSecretKeyPacket.body(key, ed25519Seed: raw.seed)),
            OpenPGPPacket(.userID, body: uid),
            selfSignature.packet,
        ])
    }
}
