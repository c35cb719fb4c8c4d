import Foundation

/// Makes v4 OpenPGP data signatures (RFC 9580 §5.2) with an `OpenPGPSecretKey`, in the shape
/// apt 2.6, gpgv and sqv accept (apt.md §4.4): hashed issuer fingerprint (33) and creation time
/// (2), unhashed issuer key ID (16).
///
/// Signatures are deterministic: Ed25519 and RSA PKCS#1 v1.5 involve no randomness, and the
/// creation time is an input, never the clock, so replicas signing the same text with the same
/// key at the same time produce identical bytes. A time before the key's creation is raised to
/// it (gpgv refuses a signature older than its key); a time after the key's expiry is refused.
///
/// ```swift
/// let signer = OpenPGPSigner(key: key)                            // SHA-512
/// let inRelease = try signer.clearsign(release, at: date)         // dists/stable/InRelease
/// let releaseGPG = try signer.sign(Array(release.utf8), at: date).armored
/// ```
public struct OpenPGPSigner: Sendable {
    /// What a signature covers (RFC 9580 §5.2.1).
    public enum Mode: Sendable {
        /// The exact bytes (type 0x00): Release.gpg, SHA256SUMS.sig.
        case binary
        /// Canonical text, line endings as CRLF (type 0x01).
        case text
    }

    public let key: OpenPGPSecretKey
    public let hash: OpenPGPHashAlgorithm

    public init(key: OpenPGPSecretKey, hash: OpenPGPHashAlgorithm = .sha512) {
        self.key = key
        self.hash = hash
    }

    /// A detached signature over `data`, made at `time`.
    public func sign(_ data: [UInt8], mode: Mode = .binary, at time: Date) throws -> OpenPGPSignature {
        switch mode {
        case .binary: try signature(type: .binary, over: data, at: time)
        case .text: try signature(type: .text, over: OpenPGPCleartext.canonicalLineEndings(data), at: time)
        }
    }

    /// `text` as a cleartext signed message (RFC 9580 §7): apt's InRelease.
    public func clearsign(_ text: String, at time: Date) throws -> String {
        let lines = OpenPGPCleartext.lines(text)
        let signature = try signature(type: .text, over: OpenPGPCleartext.signedText(lines), at: time)
        return OpenPGPCleartext.message(lines, hash: hash, signature: signature.binary)
    }

    /// A signature of `type` over the already canonical `data`.
    func signature(type: OpenPGPSignaturePacket.SignatureType, over data: [UInt8], at time: Date) throws -> OpenPGPSignature {
        let signing = key.signingKey
        let seconds = max(try Self.seconds(time), signing.packet.created)
        if let expiration = signing.expiration, UInt64(seconds) >= expiration {
            let date = Date(timeIntervalSince1970: TimeInterval(expiration))
            throw CryptoError("OpenPGP: the signing key \(signing.packet.fingerprintHex) expired on \(date) (extend it with gpg --quick-set-expire)")
        }
        return OpenPGPSignature(packet: try Self.dataSignature(type: type, key: signing.packet, privateKey: key.privateKey, hash: hash,
                                                              created: seconds, over: data))
    }

    /// A data signature with the subpackets apt.md §4.4 requires: hashed issuer fingerprint and
    /// creation time (plus `extraHashed`), unhashed issuer key ID. No time checks.
    static func dataSignature(type: OpenPGPSignaturePacket.SignatureType, key: OpenPGPKeyPacket, privateKey: PrivateKey, hash: OpenPGPHashAlgorithm,
                              created: UInt32, extraHashed: [OpenPGPSubpacket] = [], over data: [UInt8]) throws -> OpenPGPSignaturePacket {
        try OpenPGPSignaturePacket(
            type: type, signer: key, privateKey: privateKey, hash: hash,
            hashed: [OpenPGPSubpacket(.issuerFingerprint, [4] + key.fingerprint), OpenPGPSubpacket(.creationTime, .bigEndian(created))] + extraHashed,
            unhashed: [OpenPGPSubpacket(.issuerKeyID, key.keyID)],
            hashInput: data)
    }

    /// Whole seconds since 1970 as OpenPGP's four-byte times hold them.
    static func seconds(_ date: Date) throws -> UInt32 {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard seconds >= 0, seconds < 4_294_967_296 else { throw CryptoError("OpenPGP: \(date) cannot be written as an OpenPGP time") }
        return UInt32(seconds)
    }
}
