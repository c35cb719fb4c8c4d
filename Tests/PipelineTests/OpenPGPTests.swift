import Foundation
import Testing
@testable import Pipeline

@Suite("OpenPGP keys, signatures and armor")
struct OpenPGPTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000)
    static let ed25519 = try! OpenPGPSecretKey(armored: OpenPGPFixtures.ed25519Secret)
    static let rsa3072 = try! OpenPGPSecretKey(armored: OpenPGPFixtures.rsa3072Secret)

    static func repositoryFile(_ relative: String) throws -> [UInt8] {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return Array(try Data(contentsOf: url.appendingPathComponent(relative)))
    }

    /// The reason `body` throws, or nil when it does not.
    static func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    // MARK: Secret keys

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

    // MARK: Signing

    @Test("signatures are deterministic: same key, data and time give the same bytes", arguments: ["ed25519", "rsa3072"])
    func deterministic(_ name: String) throws {
        let signer = OpenPGPSigner(key: name == "ed25519" ? Self.ed25519 : Self.rsa3072)
        let text = "Origin: Example\nDate: Sat, 02 Jan 2027 00:00:00 UTC\n"
        #expect(try signer.clearsign(text, at: Self.time) == (try signer.clearsign(text, at: Self.time)))
        #expect(try signer.sign(Array(text.utf8), at: Self.time).binary == (try signer.sign(Array(text.utf8), at: Self.time).binary))
        #expect(try signer.sign(Array(text.utf8), at: Self.time).binary != (try signer.sign(Array(text.utf8), at: Self.time + 1).binary))
    }

    @Test("a data signature carries hashed issuer fingerprint and creation time and an unhashed issuer key ID (apt.md §4.4)")
    func dataSignatureShape() throws {
        let signature = try OpenPGPSigner(key: Self.ed25519, hash: .sha256).sign(OpenPGPFixtures.data, at: Self.time)
        let packet = signature.packet
        #expect(packet.type == 0x00 && packet.algorithm == 22 && packet.hashID == 8)
        #expect(packet.hashed.map(\.type) == [33, 2])
        #expect(packet.hashed[0].data == [4] + (Hex.decode(OpenPGPFixtures.ed25519Fingerprint.lowercased()) ?? []))
        #expect(packet.creationTime == 1_800_000_000)
        #expect(packet.unhashed.map(\.type) == [16])
        #expect(packet.unhashed[0].data == Hex.decode(OpenPGPFixtures.ed25519Fingerprint.suffix(16).lowercased()))
        #expect(signature.armored.hasPrefix("-----BEGIN PGP SIGNATURE-----\n\n"))
        #expect(signature.armored.hasSuffix("-----END PGP SIGNATURE-----\n"))
        #expect(try OpenPGPArmor.decodeSingle(signature.armored, as: .signature) == signature.binary)
    }

    @Test("a time before the key was made is raised to the key's creation time")
    func timeBeforeKey() throws {
        let signature = try OpenPGPSigner(key: Self.ed25519).sign(OpenPGPFixtures.data, at: Date(timeIntervalSince1970: 1_000_000_000))
        #expect(signature.packet.creationTime == Self.ed25519.signingKey.packet.created)
        _ = try OpenPGPVerifier(certificates: [Self.ed25519.certificate]).verify(signature: signature.binary, over: OpenPGPFixtures.data)
    }

    @Test("a key past its expiry does not sign, and its late signatures do not verify")
    func expiredKey() throws {
        let made = Date(timeIntervalSince1970: 1_700_000_000)
        let key = try OpenPGPSecretKey.generate(userID: "Short <short@example.com>", created: made, validFor: 3600)
        let signer = OpenPGPSigner(key: key)
        _ = try signer.sign(OpenPGPFixtures.data, at: made + 3599)
        #expect(Self.refusal { _ = try signer.sign(OpenPGPFixtures.data, at: made + 3600) }?.contains("expired") == true)
        // A signature dated after the expiry, made directly: the verifier refuses it.
        let late = try signer.signatureIgnoringExpiry(over: OpenPGPFixtures.data, at: 1_700_003_601)
        #expect(Self.refusal { _ = try OpenPGPVerifier(certificates: [key.certificate]).verify(signature: late.binary, over: OpenPGPFixtures.data) }?
            .contains("expired") == true)
    }

    @Test("a signature older than its key, or past its own expiry, does not verify")
    func signatureTimes() throws {
        let key = Self.ed25519
        let verifier = OpenPGPVerifier(certificates: [key.certificate])
        let created = key.signingKey.packet.created
        let early = try OpenPGPSigner(key: key).signatureIgnoringExpiry(over: OpenPGPFixtures.data, at: created - 1)
        #expect(Self.refusal { _ = try verifier.verify(signature: early.binary, over: OpenPGPFixtures.data) }?.contains("older than the key") == true)
        // Valid for 60 s from its creation: good until then, expired after.
        let expiring = try Self.signature(extraHashed: [OpenPGPSubpacket(.signatureExpiration, .bigEndian(60))])
        _ = try verifier.verify(signature: expiring.packet.serialized, over: OpenPGPFixtures.data, at: Date(timeIntervalSince1970: 1_800_000_059))
        #expect(Self.refusal { _ = try verifier.verify(signature: expiring.packet.serialized, over: OpenPGPFixtures.data, at: Date(timeIntervalSince1970: 1_800_000_060)) }?
            .contains("expired") == true)
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

    // MARK: Cleartext

    @Test("cleartext: Hash header, dash-escaping, trailing whitespace and CRLF removed, the last line break not signed")
    func cleartext() throws {
        let signer = OpenPGPSigner(key: Self.ed25519)
        let message = try signer.clearsign("Origin: Example  \r\n-Dash line\nLast\t\n", at: Self.time)
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(Array(lines.prefix(6)) == ["-----BEGIN PGP SIGNED MESSAGE-----", "Hash: SHA512", "", "Origin: Example", "- -Dash line", "Last"])
        #expect(lines[6] == "-----BEGIN PGP SIGNATURE-----")
        // The same text in canonical form signs identically: what is signed is the canonical text.
        #expect(message == (try signer.clearsign("Origin: Example\n-Dash line\nLast", at: Self.time)))
        // The signature is a text signature over the lines joined by CRLF, without the final break.
        let signature = try OpenPGPArmor.decodeSingle(String(message[message.range(of: "-----BEGIN PGP SIGNATURE-----")!.lowerBound...]), as: .signature)
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        _ = try verifier.verify(signature: signature, over: Array("Origin: Example\r\n-Dash line\r\nLast".utf8))
        _ = try verifier.verify(signature: signature, over: Array("Origin: Example\n-Dash line\nLast".utf8))
        #expect(Self.refusal { _ = try verifier.verify(signature: signature, over: Array("Origin: Example\n-Dash line\nLast\n".utf8)) } != nil)
        #expect(try OpenPGPSignaturePacket(body: OpenPGPPacket.parse(signature)[0].body).type == 0x01)
    }

    @Test("cleartext with SHA-256 names it in the Hash header")
    func cleartextSHA256() throws {
        let message = try OpenPGPSigner(key: Self.rsa3072, hash: .sha256).clearsign("A: b\n", at: Self.time)
        #expect(message.hasPrefix("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: b\n-----BEGIN PGP SIGNATURE-----\n"))
    }

    // MARK: Verification

    @Test("signatures made by gpg verify (Ed25519 armored, signing subkey binary, RSA 3072 of the example provider)")
    func gpgSignaturesVerify() throws {
        let ed = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        let armored = Array(OpenPGPFixtures.dataSignatureEd25519.utf8)
        #expect(try ed.verify(signature: armored, over: OpenPGPFixtures.data).signingKeyFingerprint == OpenPGPFixtures.ed25519Fingerprint)
        let subkey = OpenPGPVerifier(certificates: [try OpenPGPSecretKey(armored: OpenPGPFixtures.subkeySecret).certificate])
        let result = try subkey.verify(signature: OpenPGPFixtures.dataSignatureSubkey, over: OpenPGPFixtures.data)
        #expect(result.signingKeyFingerprint == OpenPGPFixtures.subkeySigningFingerprint)
        #expect(result.certificate.fingerprint == OpenPGPFixtures.subkeyPrimaryFingerprint)

        let release = "examples/registry/providers/acme/hello/1.0.0/terraform-provider-hello_1.0.0_SHA256SUMS"
        let acme = try OpenPGPVerifier(keys: [try Self.repositoryFile("examples/registry/keys/acme-signing.asc")])
        let sums = try Self.repositoryFile(release)
        #expect(try acme.verify(signature: try Self.repositoryFile(release + ".sig"), over: sums).certificate.keyID == "D1F7A7A23B21E1D4")
        var tampered = sums
        tampered[10] ^= 0x01
        #expect(Self.refusal { _ = try acme.verify(signature: try Self.repositoryFile(release + ".sig"), over: tampered) } != nil)
    }

    @Test("a tampered file, another key's signature or a signature that is not a detached one do not verify")
    func badSignatures() throws {
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        var tampered = OpenPGPFixtures.data
        tampered[0] ^= 0x20
        #expect(Self.refusal { _ = try verifier.verify(signature: Array(OpenPGPFixtures.dataSignatureEd25519.utf8), over: tampered) } != nil)
        let other = try OpenPGPSigner(key: Self.rsa3072).sign(OpenPGPFixtures.data, at: Self.time)
        #expect(Self.refusal { _ = try verifier.verify(signature: other.binary, over: OpenPGPFixtures.data) }?
            .contains(OpenPGPFixtures.rsa3072Fingerprint) == true)
        // A certification (type 0x13) is not a signature over a file.
        let selfSignature = try OpenPGPPacket.parse(Self.ed25519.certificate.binary)[2].serialized
        #expect(Self.refusal { _ = try verifier.verify(signature: selfSignature, over: OpenPGPFixtures.data) }?.contains("type 0x13") == true)
    }

    @Test("an unknown critical subpacket makes a signature invalid; an unknown non-critical one does not")
    func unknownCriticalSubpacket() throws {
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        for critical in [false, true] {
            let signature = try Self.signature(extraHashed: [OpenPGPSubpacket(type: 99, critical: critical, data: [1, 2, 3])])
            let reason = Self.refusal { _ = try verifier.verify(signature: signature.packet.serialized, over: OpenPGPFixtures.data) }
            if critical { #expect(reason?.contains("critical subpacket (type 99)") == true) } else { #expect(reason == nil) }
        }
    }

    @Test("a signature whose hash prefix does not match its digest is refused, though its signature value is good")
    func wrongHashPrefix() throws {
        let good = try Self.signature(extraHashed: [])
        let bad = OpenPGPSignaturePacket(copying: good, hashPrefix: [good.hashPrefix[0] ^ 0xFF, good.hashPrefix[1]])
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        _ = try verifier.verify(signature: good.packet.serialized, over: OpenPGPFixtures.data)
        #expect(Self.refusal { _ = try verifier.verify(signature: bad.packet.serialized, over: OpenPGPFixtures.data) }?.contains("prefix") == true)
    }

    @Test("SHA-1 signatures, v3 and v5 signatures and v5 keys are refused")
    func unsupportedVersions() throws {
        let good = try Self.signature(extraHashed: []).packet.body
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        var sha1 = good
        sha1[3] = 2
        #expect(Self.refusal { _ = try verifier.verify(signature: OpenPGPPacket(.signature, body: sha1).serialized, over: OpenPGPFixtures.data) }?
            .contains("SHA-1") == true)
        for version: UInt8 in [3, 5] {
            var body = good
            body[0] = version
            #expect(Self.refusal { _ = try verifier.verify(signature: OpenPGPPacket(.signature, body: body).serialized, over: OpenPGPFixtures.data) }?
                .contains("version \(version) signatures") == true)
        }
        var key = try OpenPGPPacket.parse(Self.ed25519.certificate.binary)
        var keyBody = key[0].body
        keyBody[0] = 5
        key[0] = OpenPGPPacket(.publicKey, body: keyBody)
        #expect(Self.refusal { _ = try OpenPGPCertificate.read(OpenPGPPacket.serialize(key)) }?.contains("version 5 keys") == true)
    }

    @Test("bytes after the last signature packet, or a packet of another kind, are refused")
    func trailingGarbage() throws {
        let signature = try OpenPGPSigner(key: Self.ed25519).sign(OpenPGPFixtures.data, at: Self.time).binary
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        _ = try verifier.verify(signature: signature, over: OpenPGPFixtures.data)
        #expect(Self.refusal { _ = try verifier.verify(signature: signature + [0x00], over: OpenPGPFixtures.data) }?.contains("does not start a packet") == true)
        #expect(Self.refusal { _ = try verifier.verify(signature: signature + [0x88], over: OpenPGPFixtures.data) }?.contains("truncated") == true)
        #expect(Self.refusal { _ = try verifier.verify(signature: signature + [0xB4, 0x01, 0x41], over: OpenPGPFixtures.data) }?
            .contains("not a signature (tag 13)") == true)
        // Inside the packet: a byte after the signature values.
        var body = try OpenPGPPacket.parse(signature)[0].body
        body.append(0)
        #expect(Self.refusal { _ = try verifier.verify(signature: OpenPGPPacket(.signature, body: body).serialized, over: OpenPGPFixtures.data) }?
            .contains("trailing") == true)
    }

    @Test("every truncation of a key or signature is refused, never a crash")
    func truncations() throws {
        let key = Self.ed25519.certificate.binary
        for length in 0..<key.count {
            #expect(throws: CryptoError.self) { _ = try OpenPGPCertificate.read(Array(key.prefix(length))) }
        }
        let secret = try OpenPGPArmor.decodeSingle(OpenPGPFixtures.subkeySecret, as: .privateKey)
        for length in 0..<secret.count {
            // Cut after a complete component the key may still be whole; otherwise it must throw.
            _ = try? OpenPGPSecretKey(binary: Array(secret.prefix(length)))
        }
        let signature = try OpenPGPSigner(key: Self.ed25519).sign(OpenPGPFixtures.data, at: Self.time).binary
        let verifier = OpenPGPVerifier(certificates: [Self.ed25519.certificate])
        for length in 0..<signature.count {
            #expect(throws: CryptoError.self) { _ = try verifier.verify(signature: Array(signature.prefix(length)), over: OpenPGPFixtures.data) }
        }
    }

    @Test("RSA keys under 2048 bits are refused for verification too")
    func weakVerificationKey() throws {
        let key = try PrivateKey.generate(.rsa(bits: 1024))
        let der = try key.publicKey.jwk(kid: "k")
        let modulus = try #require(Base64URL.decode(der.object?["n"]?.string ?? ""))
        let packet = OpenPGPKeyPacket(created: 1_700_000_000, material: .rsa(modulus: modulus, exponent: [1, 0, 1]))
        #expect(Self.refusal { _ = try OpenPGPCertificate.read(OpenPGPPacket(.publicKey, body: packet.body).serialized) }?.contains("2048") == true)
    }

    // MARK: Key generation

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

    // MARK: Armor

    @Test("armor: CRC24 vectors, round trip, and refusals of a bad checksum, a missing blank line or END line, a foreign block")
    func armor() throws {
        #expect(OpenPGPArmor.crc24([]) == 0xB704CE)
        // RFC 4880 §6.1's reference implementation gives this for "123456789".
        #expect(OpenPGPArmor.crc24(Array("123456789".utf8)) == 0x21CF02)
        let bytes = [UInt8](0..<200)
        let text = OpenPGPArmor.encode(bytes, as: .signature)
        #expect(try OpenPGPArmor.decode(text) == [OpenPGPArmor.Block(kind: .signature, bytes: bytes)])
        #expect(try OpenPGPArmor.decode(text.replacingOccurrences(of: "\n", with: "\r\n")) == [OpenPGPArmor.Block(kind: .signature, bytes: bytes)])
        #expect(try OpenPGPArmor.decode("Comment above\n" + text.replacingOccurrences(of: "-----\n\n", with: "-----\nVersion: X\nComment:\n\n")).count == 1)

        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let crcLine = try #require(lines.firstIndex { $0.hasPrefix("=") })
        lines[crcLine] = lines[crcLine] == "=AAAA" ? "=AAAB" : "=AAAA"
        #expect(Self.refusal { _ = try OpenPGPArmor.decode(lines.joined(separator: "\n")) }?.contains("CRC24") == true)
        var flipped = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        flipped[2] = String(flipped[2].first == "A" ? "B" : "A") + flipped[2].dropFirst()
        #expect(Self.refusal { _ = try OpenPGPArmor.decode(flipped.joined(separator: "\n")) }?.contains("CRC24") == true)

        #expect(Self.refusal { _ = try OpenPGPArmor.decode(text.replacingOccurrences(of: "-----\n\n", with: "-----\n")) }?.contains("header") == true)
        #expect(Self.refusal { _ = try OpenPGPArmor.decode(text.replacingOccurrences(of: "-----END PGP SIGNATURE-----\n", with: "")) }?.contains("END") == true)
        #expect(Self.refusal { _ = try OpenPGPArmor.decode(text.replacingOccurrences(of: "END PGP SIGNATURE", with: "END PGP MESSAGE")) } != nil)
        #expect(Self.refusal { _ = try OpenPGPArmor.decode("-----BEGIN PGP ARMORED FILE-----\n\nAAAA\n-----END PGP ARMORED FILE-----\n") }?.contains("unsupported") == true)
        #expect(Self.refusal { _ = try OpenPGPArmor.decodeSingle(text + text, as: .signature) }?.contains("expected one") == true)
        #expect(Self.refusal { _ = try OpenPGPArmor.decode("no armor here") } != nil)
    }

    // MARK: Fuzz entry

    @Test("the fuzz entry point survives random bytes and random damage to real keys and signatures")
    func fuzzEntry() throws {
        var generator = SplitMix64(seed: 0x5EED)
        let seeds: [[UInt8]] = [
            try OpenPGPArmor.decodeSingle(OpenPGPFixtures.subkeySecret, as: .privateKey),
            Self.ed25519.certificate.binary,
            Self.rsa3072.certificate.binary,
            OpenPGPFixtures.dataSignatureSubkey,
            Array(OpenPGPFixtures.dataSignatureEd25519.utf8),
        ]
        // Unchanged, every seed is accepted by at least one reader (so the loop below reaches deep).
        // (No RSA secret key among them: each damaged one would cost OpenSSL's full key check.)
        for seed in seeds { #expect(OpenPGPFuzzing.parse(seed) > 0) }
        for round in 0..<1000 {
            var input = seeds[round % seeds.count]
            switch generator.next() % 4 {
            case 0: input = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            case 1: input = Array(input.prefix(Int(generator.next() % UInt64(input.count))))
            default:
                for _ in 0..<(1 + generator.next() % 4) {
                    let index = Int(generator.next() % UInt64(input.count))
                    input[index] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                }
            }
            _ = OpenPGPFuzzing.parse(input)
        }
    }

    /// A binary data signature over `OpenPGPFixtures.data` by the Ed25519 fixture with extra
    /// hashed subpackets.
    static func signature(extraHashed: [OpenPGPSubpacket]) throws -> OpenPGPSignaturePacket {
        let key = ed25519.signingKey.packet
        return try OpenPGPSignaturePacket(
            type: .binary, signer: key, privateKey: ed25519.privateKey, hash: .sha512,
            hashed: [OpenPGPSubpacket(.issuerFingerprint, [4] + key.fingerprint), OpenPGPSubpacket(.creationTime, .bigEndian(1_800_000_000))] + extraHashed,
            unhashed: [OpenPGPSubpacket(.issuerKeyID, key.keyID)], hashInput: OpenPGPFixtures.data)
    }
}

/// A small deterministic generator for the fuzz test (the same inputs on every run).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension OpenPGPSignaturePacket {
    /// A copy with other unhashed subpackets or hash prefix (tests that damage one part).
    init(copying other: OpenPGPSignaturePacket, unhashed: [OpenPGPSubpacket]? = nil, hashPrefix: [UInt8]? = nil) {
        var body: [UInt8] = [4, other.type, other.algorithm, other.hashID] + [UInt8].bigEndian16(other.hashedArea.count) + other.hashedArea
        let area = (unhashed ?? other.unhashed).flatMap(\.serialized)
        body += [UInt8].bigEndian16(area.count) + area + (hashPrefix ?? other.hashPrefix) + other.mpis.flatMap(OpenPGPMPI.encode)
        self = try! OpenPGPSignaturePacket(body: body)
    }
}

extension OpenPGPSigner {
    /// A data signature at `seconds` without the signer's expiry check (to test the verifier's).
    func signatureIgnoringExpiry(over data: [UInt8], at seconds: UInt32) throws -> OpenPGPSignature {
        let signing = key.signingKey.packet
        return OpenPGPSignature(packet: try OpenPGPSignaturePacket(
            type: .binary, signer: signing, privateKey: key.privateKey, hash: hash,
            hashed: [OpenPGPSubpacket(.issuerFingerprint, [4] + signing.fingerprint), OpenPGPSubpacket(.creationTime, .bigEndian(seconds))],
            unhashed: [OpenPGPSubpacket(.issuerKeyID, signing.keyID)], hashInput: data))
    }
}
