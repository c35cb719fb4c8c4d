import Foundation
import Testing
@testable import Pipeline

@Suite("OpenPGP signatures: signing, cleartext, verification")
struct OpenPGPSignatureTests: OpenPGPTestCase {
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
}
