import Foundation

/// One v4 OpenPGP signature, as made by `OpenPGPSigner` or read from a detached signature file.
public struct OpenPGPSignature: Sendable {
    let packet: OpenPGPSignaturePacket

    init(packet: OpenPGPSignaturePacket) { self.packet = packet }

    /// The binary packet (`gpg --detach-sign` output; what Terraform's `shasums_signature_url` serves).
    public var binary: [UInt8] { packet.packet.serialized }

    /// The armored form (`-----BEGIN PGP SIGNATURE-----`, with its CRC24): Release.gpg.
    public var armored: String { OpenPGPArmor.encode(binary, as: .signature) }

    /// The hashed creation time.
    public var created: Date? { packet.creationTime.map { Date(timeIntervalSince1970: TimeInterval($0)) } }

    /// The issuer's fingerprint (subpacket 33), upper-case hex, when the signature names it.
    public var issuerFingerprint: String? { packet.issuerFingerprint.map(OpenPGPKeyPacket.hex) }

    /// The issuer's key ID, upper-case hex, when the signature names it.
    public var issuerKeyID: String? { packet.issuerKeyID.map(OpenPGPKeyPacket.hex) }

    /// Every signature in a detached signature file: armored (one `SIGNATURE` block) or binary.
    /// The file must hold signature packets and nothing else.
    public static func read(_ data: [UInt8]) throws -> [OpenPGPSignature] {
        let bytes: [UInt8]
        if OpenPGPArmor.looksArmored(data) {
            bytes = try OpenPGPArmor.decodeSingle(String(decoding: data, as: UTF8.self), as: .signature)
        } else {
            bytes = data
        }
        let packets = try OpenPGPPacket.parse(bytes)
        guard !packets.isEmpty else { throw CryptoError("OpenPGP: the signature file is empty") }
        return try packets.map { packet in
            guard packet.knownTag == .signature else { throw CryptoError("OpenPGP: a detached signature file holds a packet that is not a signature (tag \(packet.tag))") }
            return OpenPGPSignature(packet: try OpenPGPSignaturePacket(body: packet.body))
        }
    }
}
