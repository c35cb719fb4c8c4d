import Foundation
import Testing
@testable import Pipeline

/// What the OpenPGP suites share: the fixture keys read once, and helpers to name a refusal.
protocol OpenPGPTestCase {}

extension OpenPGPTestCase {
    /// The signing time the suites use (2027-01-15), after every fixture key was made.
    static var time: Date { Date(timeIntervalSince1970: 1_800_000_000) }
    static var ed25519: OpenPGPSecretKey { OpenPGPTestKeys.ed25519 }
    static var rsa3072: OpenPGPSecretKey { OpenPGPTestKeys.rsa3072 }

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

    /// A binary data signature over `OpenPGPFixtures.data` by the Ed25519 fixture with extra
    /// hashed subpackets.
    static func signature(extraHashed: [OpenPGPSubpacket]) throws -> OpenPGPSignaturePacket {
        try OpenPGPSigner.dataSignature(type: .binary, key: ed25519.signingKey.packet, privateKey: ed25519.privateKey, hash: .sha512,
                                        created: 1_800_000_000, extraHashed: extraHashed, over: OpenPGPFixtures.data)
    }
}

/// The fixture secret keys, read once per test process.
enum OpenPGPTestKeys {
    static let ed25519 = try! OpenPGPSecretKey(armored: OpenPGPFixtures.ed25519Secret)
    static let rsa3072 = try! OpenPGPSecretKey(armored: OpenPGPFixtures.rsa3072Secret)
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
    /// A data signature at `seconds` without the signer's time checks (to test the verifier's).
    func signatureIgnoringExpiry(over data: [UInt8], at seconds: UInt32) throws -> OpenPGPSignature {
        OpenPGPSignature(packet: try Self.dataSignature(type: .binary, key: key.signingKey.packet, privateKey: key.privateKey, hash: hash,
                                                        created: seconds, over: data))
    }
}
