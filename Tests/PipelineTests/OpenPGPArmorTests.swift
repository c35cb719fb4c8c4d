import Foundation
import Testing
@testable import Pipeline

@Suite("OpenPGP armor and the readers under damage")
struct OpenPGPArmorTests: OpenPGPTestCase {
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
}
