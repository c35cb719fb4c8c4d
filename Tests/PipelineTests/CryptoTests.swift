import Testing
@testable import Pipeline

@Suite("crypto primitives")
struct CryptoTests {
    @Test("base64 follows RFC 4648 §10 and refuses non-canonical input")
    func base64() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64.decode("Zg") == nil, "padding required")
        #expect(Base64.decode("Zh==") == nil, "non-zero leftover bits")
        #expect(Base64.decode("Zm9v YmFy") == nil, "whitespace")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("-_8=") == nil, "base64url in JWS has no padding")
        #expect(Base64URL.decode("+/8") == nil, "standard alphabet refused")
        #expect(Base64URL.decode("A") == nil)
    }

    @Test("SHA-256 and HMAC-SHA256 match published vectors")
    func digests() {
        #expect(Hex.encode(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // RFC 4231 test case 2.
        #expect(Hex.encode(HMAC.sha256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(HMAC.sha256(key: [UInt8](), data: [UInt8]()).count == 32)
    }

    @Test("constant-time comparison")
    func constantTime() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    }

    @Test("scrypt and PBKDF2 match RFC 7914 vectors")
    func kdfVectors() throws {
        let scrypt = try PasswordHash.derive(Array("password".utf8), salt: Array("NaCl".utf8), scheme: .scrypt(logN: 10, r: 8, p: 16), length: 64)
        #expect(Hex.encode(scrypt) == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
        let pbkdf2 = try PasswordHash.derive(Array("passwd".utf8), salt: Array("salt".utf8), scheme: .pbkdf2SHA256(iterations: 1), length: 64)
        #expect(Hex.encode(pbkdf2) == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
    }

    @Test("a password hash string round-trips and verifies only its password")
    func passwordHash() throws {
        for scheme in [PasswordHash.Scheme.scrypt(logN: 10, r: 8, p: 1), .pbkdf2SHA256(iterations: 10_000)] {
            let hash = try PasswordHash.create(Array("correct horse".utf8), scheme: scheme)
            let parsed = try PasswordHash(parsing: hash.encoded)
            #expect(parsed == hash)
            #expect(parsed.verify(Array("correct horse".utf8)))
            #expect(!parsed.verify(Array("correct horsf".utf8)))
            #expect(!parsed.verify([]))
        }
        let encoded = try PasswordHash.create(Array("x".utf8), scheme: .scrypt(logN: 10, r: 8, p: 1)).encoded
        #expect(encoded.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        let empty = try PasswordHash.create([], scheme: .pbkdf2SHA256(iterations: 10_000))
        #expect(empty.verify([]))
        #expect(!empty.verify([1]))
    }

    @Test("malformed or out-of-range hash strings are refused with a reason", arguments: [
        "plaintext", "$scrypt$ln=15,r=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$i=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$md5$i=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$ln=15,r=8,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA", "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaA",
    ])
    func badHashStrings(_ text: String) {
        #expect(throws: CryptoError.self) { try PasswordHash(parsing: text) }
    }

    @Test("keys sign and verify; tampering and type confusion fail", arguments: [SignatureAlgorithm.rs256, .es256, .edDSA])
    func signVerify(_ algorithm: SignatureAlgorithm) throws {
        let kind: PrivateKey.Kind = switch algorithm {
        case .rs256: .rsa(bits: 2048)
        case .es256: .p256
        case .edDSA: .ed25519
        }
        let key = try PrivateKey.generate(kind)
        let message = Array("hello".utf8)
        let signature = try key.sign(message, algorithm: algorithm)
        if algorithm == .es256 { #expect(signature.count == 64) }
        let viaPEM = try key.publicKey
        let viaJWK = try PublicKey(jwk: viaPEM.jwk(kid: "k"))
        let reread = try PrivateKey(pem: key.pem)
        for publicKey in [viaPEM, viaJWK, try reread.publicKey] {
            #expect(publicKey.verify(signature, for: message, algorithm: algorithm))
            #expect(!publicKey.verify(signature, for: Array("hellp".utf8), algorithm: algorithm))
            var flipped = signature
            flipped[flipped.count / 2] ^= 1
            #expect(!publicKey.verify(flipped, for: message, algorithm: algorithm))
            for other in SignatureAlgorithm.allCases where other != algorithm {
                #expect(!publicKey.verify(signature, for: message, algorithm: other))
            }
        }
    }

    @Test("weak or malformed JWKs are refused")
    func badJWKs() throws {
        let small = try PrivateKey.generate(.rsa(bits: 1024)).publicKey.jwk(kid: "small")
        #expect(throws: CryptoError.self) { try PublicKey(jwk: small) }
        var offCurve = try PrivateKey.generate(.p256).publicKey.jwk(kid: "ec").object!
        offCurve["y"] = .string(Base64URL.encode([UInt8](repeating: 7, count: 32)))
        #expect(throws: CryptoError.self) { try PublicKey(jwk: .object(offCurve)) }
        var encryption = try PrivateKey.generate(.ed25519).publicKey.jwk(kid: "ed").object!
        encryption["use"] = "enc"
        #expect(throws: CryptoError.self) { try PublicKey(jwk: .object(encryption)) }
        #expect(throws: CryptoError.self) { try PublicKey(jwk: ["kty": "oct", "k": "c2VjcmV0"]) }
        #expect(throws: CryptoError.self) { try PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
    }
}
