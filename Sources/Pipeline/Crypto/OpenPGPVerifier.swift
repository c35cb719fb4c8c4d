import Foundation

/// Checks detached OpenPGP signatures (binary or armored, as `gpg --detach-sign [--armor]`
/// writes them) against a set of trusted public keys: a goreleaser `SHA256SUMS.sig` before
/// `gateway oci push` publishes the sums, or a Release.gpg.
///
/// Strict: only v4 signatures of type binary (0x00) or text (0x01) by an Ed25519 or RSA key
/// that may sign (key flags, binding and back-signature checked by `OpenPGPCertificate`), with
/// SHA-256/384/512, a hashed creation time not before the key's and before its expiry, an
/// unexpired signature, no unknown critical subpacket, the digest's first two bytes matching the
/// hash prefix, and nothing but signature packets in the file.
///
/// ```swift
/// let verifier = try OpenPGPVerifier(keys: [Array(armoredKey.utf8)])
/// let result = try verifier.verify(signature: sigBytes, over: sumsBytes)
/// print("good signature by", result.certificate.userIDs.first ?? result.certificate.fingerprint)
/// ```
public struct OpenPGPVerifier: Sendable {
    public let certificates: [OpenPGPCertificate]

    public init(certificates: [OpenPGPCertificate]) { self.certificates = certificates }

    /// Reads each key file (armored or binary, one or more keys each).
    public init(keys: [[UInt8]]) throws {
        self.init(certificates: try keys.flatMap { try OpenPGPCertificate.read($0) })
    }

    /// Verifies `signature` (a detached signature file's bytes) over `data`; returns which key
    /// made it. `now` decides whether a signature with an expiry has expired. Throws a one-line
    /// reason when no signature in the file verifies.
    public func verify(signature: [UInt8], over data: [UInt8], at now: Date = Date()) throws -> OpenPGPVerification {
        var failure: CryptoError?
        for signature in try OpenPGPSignature.read(signature) {
            do {
                return try verify(signature, over: data, at: now)
            } catch let error as CryptoError {
                failure = failure ?? error
            }
        }
        throw failure ?? CryptoError("OpenPGP: no signature")
    }

    private func verify(_ signature: OpenPGPSignature, over data: [UInt8], at now: Date) throws -> OpenPGPVerification {
        let packet = signature.packet
        let input: [UInt8]
        switch packet.signatureType {
        case .binary: input = data
        case .text: input = OpenPGPCleartext.canonicalLineEndings(data)
        default: throw CryptoError(String(format: "OpenPGP: the signature (type 0x%02X) is not a signature over a file", packet.type))
        }
        let candidates = certificates.flatMap { certificate in
            certificate.signingKeys.filter { packet.mayBeIssued(by: $0.packet) }.map { (certificate, $0) }
        }
        guard !candidates.isEmpty else {
            let issuer = signature.issuerFingerprint ?? signature.issuerKeyID ?? "an unnamed key"
            throw CryptoError("OpenPGP: the signature was made by \(issuer), which is not one of the given signing keys")
        }
        var failure: CryptoError?
        for (certificate, key) in candidates {
            do {
                try packet.check(hashInput: input, key: key.packet, publicKey: key.publicKey)
                let created = UInt64(packet.creationTime ?? 0)
                guard created >= UInt64(key.packet.created) else { throw CryptoError("OpenPGP: the signature is older than the key that made it") }
                if let expiration = key.expiration, created >= expiration {
                    throw CryptoError("OpenPGP: the signature was made after the key \(key.packet.fingerprintHex) expired")
                }
                if let expiration = packet.expirationTime, now.timeIntervalSince1970 >= TimeInterval(expiration) {
                    throw CryptoError("OpenPGP: the signature has expired")
                }
                return OpenPGPVerification(certificate: certificate, signingKeyFingerprint: key.packet.fingerprintHex, signature: signature)
            } catch let error as CryptoError {
                failure = failure ?? error
            }
        }
        throw failure ?? CryptoError("OpenPGP: BAD signature")
    }
}

/// A good signature: the key that made it and the signature itself.
public struct OpenPGPVerification: Sendable {
    /// The trusted key the signature belongs to.
    public let certificate: OpenPGPCertificate
    /// The fingerprint of the (sub)key that signed.
    public let signingKeyFingerprint: String
    public let signature: OpenPGPSignature
}
