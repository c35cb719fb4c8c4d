import Foundation
import Testing
@testable import Pipeline

@Suite("OpenPGP keys: secret keys from gpg, generation, certificates")
struct OpenPGPKeyTests: OpenPGPTestCase {
    @Test("an unprotected Ed25519 key exported by gpg is read: fingerprint, user ID, the primary key signs")
    func readsEd25519() throws {
        let key = Self.ed25519
        #expect(key.certificate.fingerprint == OpenPGPFixtures.ed25519Fingerprint)
        #expect(key.certificate.keyID == String(OpenPGPFixtures.ed25519Fingerprint.suffix(16)))
        #expect(key.certificate.userIDs == ["Fixture Ed25519 <ed25519@example.com>"])
        #expect(key.signingFingerprint == OpenPGPFixtures.ed25519Fingerprint)
        // The public export holds the primary key (old-format 0x98: apt's sqv method needs 0x98,
        // 0x99 or 0xC6 first), the user ID and its self-signature.
        let packets = try OpenPGPPacket.parse(key.certificate.binary)
        #expect(packets.map(\.tag) == [6, 13, 2])
        #expect(key.certificate.binary.first == 0x98)
        // A key file's bytes: armor (a comment above it is fine) or binary.
        let armored = try OpenPGPSecretKey.read(Array(("Comment: kept for the team\n" + OpenPGPFixtures.ed25519Secret).utf8))
        let binary = try OpenPGPSecretKey.read(try OpenPGPArmor.decodeSingle(OpenPGPFixtures.ed25519Secret, as: .privateKey))
        #expect(armored.signingFingerprint == key.signingFingerprint && binary.signingFingerprint == key.signingFingerprint)
        #expect(try OpenPGPCertificate.read(key.certificate.binary).map(\.fingerprint) == [OpenPGPFixtures.ed25519Fingerprint])
        #expect(try OpenPGPCertificate.read(Array(key.certificate.armored.utf8)).map(\.fingerprint) == [OpenPGPFixtures.ed25519Fingerprint])
    }

    @Test("an RSA 3072 key exported by gpg is read and signs")
    func readsRSA() throws {
        let key = Self.rsa3072
        #expect(key.certificate.fingerprint == OpenPGPFixtures.rsa3072Fingerprint)
        #expect(key.certificate.binary.first == 0x99)
        let signature = try OpenPGPSigner(key: key).sign(OpenPGPFixtures.data, at: Self.time)
        let result = try OpenPGPVerifier(certificates: [key.certificate]).verify(signature: signature.binary, over: OpenPGPFixtures.data)
        #expect(result.signingKeyFingerprint == OpenPGPFixtures.rsa3072Fingerprint)
    }

    @Test("a certify-only primary key signs through its signing subkey; the encryption subkey is left out")
    func signingSubkey() throws {
        let key = try OpenPGPSecretKey(armored: OpenPGPFixtures.subkeySecret)
        #expect(key.certificate.fingerprint == OpenPGPFixtures.subkeyPrimaryFingerprint)
        #expect(key.signingFingerprint == OpenPGPFixtures.subkeySigningFingerprint)
        #expect(key.certificate.signingFingerprints == [OpenPGPFixtures.subkeySigningFingerprint])
        // Primary, user ID, certification, signing subkey, its binding: nothing of the encryption subkey.
        #expect(try OpenPGPPacket.parse(key.certificate.binary).map(\.tag) == [6, 13, 2, 14, 2])
        let signature = try OpenPGPSigner(key: key).sign(OpenPGPFixtures.data, at: Self.time)
        #expect(signature.issuerFingerprint == OpenPGPFixtures.subkeySigningFingerprint)
        _ = try OpenPGPVerifier(certificates: [key.certificate]).verify(signature: signature.binary, over: OpenPGPFixtures.data)
    }

    @Test("a signing subkey without its back-signature cannot sign")
    func backSignatureRequired() throws {
        var packets = try OpenPGPPacket.parse(OpenPGPArmor.decodeSingle(OpenPGPFixtures.subkeySecret, as: .privateKey))
        let bindingIndex = try #require(packets.firstIndex { $0.knownTag == .secretSubkey }) + 1
        let binding = try OpenPGPSignaturePacket(body: packets[bindingIndex].body)
        // gpg writes the back-signature (an embedded 0x19 signature) in the unhashed area, so the
        // binding stays valid without it.
        #expect(binding.unhashed.contains { $0.kind == .embeddedSignature })
        packets[bindingIndex] = OpenPGPSignaturePacket(copying: binding, unhashed: binding.unhashed.filter { $0.kind != .embeddedSignature }).packet
        #expect(Self.refusal { _ = try OpenPGPSecretKey(packets: packets) }?.contains("cannot sign") == true)
    }

    @Test("a passphrase-protected key is refused with one line saying to export it unprotected")
    func protectedKey() {
        let reason = Self.refusal { _ = try OpenPGPSecretKey(armored: OpenPGPFixtures.protectedSecret) }
        #expect(reason?.contains("passphrase-protected") == true)
        #expect(reason?.contains("unprotected") == true)
        #expect(reason?.contains("\n") == false)
    }

    @Test("an RSA 2048 key is refused for signing, naming the 3072-bit minimum")
    func smallRSAKey() {
        let reason = Self.refusal { _ = try OpenPGPSecretKey(armored: OpenPGPFixtures.rsa2048Secret) }
        #expect(reason?.contains("2048 bits") == true)
        #expect(reason?.contains("3072") == true)
    }

    @Test("a public key, two keys or a damaged secret are refused as signing keys")
    func notOneSecretKey() throws {
        let publicKey = OpenPGPArmor.encode(Self.ed25519.certificate.binary, as: .privateKey)
        #expect(Self.refusal { _ = try OpenPGPSecretKey(armored: publicKey) }?.contains("public key") == true)
        let both = try OpenPGPArmor.decodeSingle(OpenPGPFixtures.ed25519Secret, as: .privateKey)
            + OpenPGPArmor.decodeSingle(OpenPGPFixtures.rsa3072Secret, as: .privateKey)
        #expect(Self.refusal { _ = try OpenPGPSecretKey(binary: both) }?.contains("more than one") == true)
        // One bit of the Ed25519 secret changed: the checksum no longer matches.
        var damaged = try OpenPGPPacket.parse(OpenPGPArmor.decodeSingle(OpenPGPFixtures.ed25519Secret, as: .privateKey))
        var body = damaged[0].body
        body[body.count - 5] ^= 0x01
        damaged[0] = OpenPGPPacket(.secretKey, body: body)
        #expect(Self.refusal { _ = try OpenPGPSecretKey(packets: damaged) }?.contains("checksum") == true)
    }

    @Test("an RSA secret whose parts do not belong together is refused")
    func inconsistentRSA() throws {
        var packets = try OpenPGPPacket.parse(OpenPGPArmor.decodeSingle(OpenPGPFixtures.rsa3072Secret, as: .privateKey))
        // Change the last byte of d and fix the checksum: the structure is intact, the key is not.
        var reader = OpenPGPReader(packets[0].body, what: "test")
        _ = try OpenPGPKeyPacket(reading: &reader)
        _ = try reader.byte()
        let start = reader.offset
        let d = try reader.mpi()
        var body = packets[0].body
        let lastOfD = start + 2 + d.count - 1
        body[lastOfD] ^= 0x02
        let sum = body[start..<(body.count - 2)].reduce(0) { ($0 + Int($1)) & 0xFFFF }
        body[body.count - 2] = UInt8(sum >> 8)
        body[body.count - 1] = UInt8(sum & 0xFF)
        packets[0] = OpenPGPPacket(.secretKey, body: body)
        #expect(Self.refusal { _ = try OpenPGPSecretKey(packets: packets) }?.contains("inconsistent") == true)
    }

    @Test("a generated key reads back from its armor, certifies and signs, and verifies its own signatures")
    func generate() throws {
        let key = try OpenPGPSecretKey.generate(userID: "Example APT <apt@example.com>", created: Self.time)
        let reread = try OpenPGPSecretKey(armored: key.armored)
        #expect(reread.certificate.fingerprint == key.certificate.fingerprint)
        #expect(reread.certificate.userIDs == ["Example APT <apt@example.com>"])
        #expect(reread.certificate.created == Self.time)
        let selfSignature = try OpenPGPSignaturePacket(body: OpenPGPPacket.parse(key.certificate.binary)[2].body)
        #expect(selfSignature.type == 0x13 && selfSignature.keyFlags == 0x03 && selfSignature.hashID == 10)
        #expect(selfSignature.issuerFingerprint == key.certificate.primary.fingerprint)
        #expect(selfSignature.unhashed.map(\.type) == [16])
        #expect(key.armored.hasPrefix("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n"))
        let publicOnly = try OpenPGPCertificate.read(Array(key.certificate.armored.utf8))
        #expect(publicOnly.map(\.fingerprint) == [key.certificate.fingerprint])
        let signature = try OpenPGPSigner(key: reread).sign(OpenPGPFixtures.data, mode: .text, at: Self.time)
        _ = try OpenPGPVerifier(certificates: publicOnly).verify(signature: Array(signature.armored.utf8), over: OpenPGPFixtures.data)
        #expect(Self.refusal { _ = try OpenPGPSecretKey.generate(userID: "two\nlines", created: Self.time) } != nil)
    }

    @Test("a user ID whose self-signature does not verify leaves the key without a user ID, which is refused")
    func badSelfSignature() throws {
        var packets = try OpenPGPPacket.parse(Self.ed25519.certificate.binary)
        packets[1] = OpenPGPPacket(.userID, body: Array("Mallory <mallory@example.com>".utf8))
        #expect(Self.refusal { _ = try OpenPGPCertificate.read(OpenPGPPacket.serialize(packets)) }?.contains("no user ID with a valid self-signature") == true)
    }

    @Test("a revoked key is refused; a revoked signing subkey is not used")
    func revocations() throws {
        let key = try OpenPGPSecretKey.generate(userID: "Revoked <revoked@example.com>", created: Self.time)
        let primary = key.certificate.primary
        let revocation = try OpenPGPSignaturePacket(
            type: .keyRevocation, signer: primary, privateKey: key.privateKey, hash: .sha512,
            hashed: [OpenPGPSubpacket(.issuerFingerprint, [4] + primary.fingerprint), OpenPGPSubpacket(.creationTime, .bigEndian(1_800_000_100))],
            unhashed: [], hashInput: primary.hashInput)
        var packets = try OpenPGPPacket.parse(key.certificate.binary)
        packets.insert(revocation.packet, at: 1)
        #expect(Self.refusal { _ = try OpenPGPCertificate.read(OpenPGPPacket.serialize(packets)) }?.contains("revoked") == true)

        let subkeyKey = try OpenPGPSecretKey(armored: OpenPGPFixtures.subkeySecret)
        var subkeyPackets = try OpenPGPPacket.parse(subkeyKey.certificate.binary)
        let primarySecret = try OpenPGPPacket.parse(OpenPGPArmor.decodeSingle(OpenPGPFixtures.subkeySecret, as: .privateKey))[0]
        let primaryPrivate = try #require(try OpenPGPSecretKeyPacket.privateKey(ofBody: primarySecret.body))
        let subkey = try OpenPGPKeyPacket(body: subkeyPackets[3].body)
        let subkeyRevocation = try OpenPGPSignaturePacket(
            type: .subkeyRevocation, signer: subkeyKey.certificate.primary, privateKey: primaryPrivate, hash: .sha512,
            hashed: [OpenPGPSubpacket(.issuerFingerprint, [4] + subkeyKey.certificate.primary.fingerprint), OpenPGPSubpacket(.creationTime, .bigEndian(1_800_000_100))],
            unhashed: [], hashInput: subkeyKey.certificate.primary.hashInput + subkey.hashInput)
        subkeyPackets.append(subkeyRevocation.packet)
        let revokedSubkey = try #require(try OpenPGPCertificate.read(OpenPGPPacket.serialize(subkeyPackets)).first)
        #expect(revokedSubkey.signingFingerprints.isEmpty)
        #expect(Self.refusal { _ = try OpenPGPVerifier(certificates: [revokedSubkey]).verify(signature: OpenPGPFixtures.dataSignatureSubkey, over: OpenPGPFixtures.data) } != nil)
    }

    @Test("RSA keys under 2048 bits are refused for verification too")
    func weakVerificationKey() throws {
        let key = try PrivateKey.generate(.rsa(bits: 1024))
        let der = try key.publicKey.jwk(kid: "k")
        let modulus = try #require(Base64URL.decode(der.object?["n"]?.string ?? ""))
        let packet = OpenPGPKeyPacket(created: 1_700_000_000, material: .rsa(modulus: modulus, exponent: [1, 0, 1]))
        #expect(Self.refusal { _ = try OpenPGPCertificate.read(OpenPGPPacket(.publicKey, body: packet.body).serialized) }?.contains("2048") == true)
    }
}
