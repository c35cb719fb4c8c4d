import Foundation
import Testing
@testable import Pipeline

/// The OpenPGP APIs against the real tools: keys from gpg are read, what they sign verifies with
/// gpgv (apt 2.6's verifier) and sqv (apt 3's), a key from our generator is a key gpg uses, and
/// gpg's signatures verify with our verifier.
@Suite("OpenPGP with gpg, gpgv and sqv")
struct OpenPGPToolTests {
    /// Signatures are dated now: sqv refuses one from the future ("Not live until"), and the
    /// signer raises a time before the key's creation to it.
    static var time: Date { Date() }

    /// A Release as apt reads it, plus a line starting with "-" and trailing whitespace so the
    /// tools check dash-escaping and canonical text.
    static let release = """
        Origin: Example
        Label: Example
        Suite: stable
        Codename: stable
        Date: Fri, 15 Jan 2027 08:00:00 UTC
        Architectures: amd64 arm64
        Components: main
        Description: a test repository\t
        -----BEGIN not a header, a dash-escaped line
        SHA256:
         3f1e2d7c9b0a8f6e5d4c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5   1234 main/binary-amd64/Packages

        """

    /// Checks an InRelease and a Release + Release.gpg made by `key` with gpgv and sqv, keyring
    /// `key.gpg` (binary) and, for sqv, `key.asc` too; a changed Release must fail both.
    static func checkWithTools(_ home: GnuPGHome, key: OpenPGPSecretKey, hash: OpenPGPHashAlgorithm, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let signer = OpenPGPSigner(key: key, hash: hash)
        let keyring = home.write("key.gpg", key.certificate.binary)
        let armoredKeyring = home.write("key.asc", key.certificate.armored)
        let inRelease = try signer.clearsign(release, at: time)
        #expect(inRelease.hasPrefix("-----BEGIN PGP SIGNED MESSAGE-----\nHash: \(hash.armorName)\n\n"), sourceLocation: sourceLocation)
        home.write("InRelease", inRelease)
        home.write("Release", release)
        home.write("Release.gpg", try signer.sign(Array(release.utf8), at: time).armored)

        // gpgv, as apt 2.6 runs it: GOODSIG must name the key ID (apt.md §0 rule 6), VALIDSIG the signing key.
        for arguments in [["InRelease"], ["Release.gpg", "Release"]] {
            let gpgv = home.run("gpgv", ["--status-fd", "1", "--keyring", keyring] + arguments, sourceLocation: sourceLocation)
            #expect(gpgv.status == 0, "gpgv \(arguments): \(gpgv.stderr)", sourceLocation: sourceLocation)
            #expect(gpgv.output.contains("[GNUPG:] GOODSIG \(key.signingKeyID) "), "\(gpgv.output)", sourceLocation: sourceLocation)
            #expect(gpgv.output.contains("[GNUPG:] VALIDSIG \(key.signingFingerprint) "), "\(gpgv.output)", sourceLocation: sourceLocation)
        }

        // sqv takes detached signatures only: split InRelease as apt 3 does (apt.md §4.1) and
        // check the split text equals the Release (dash-escaping undone, last line break not signed).
        let (content, signature) = try #require(split(inRelease), sourceLocation: sourceLocation)
        #expect(content + "\n" == release.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingASCIIWhitespaceAtEnd() }.joined(separator: "\n"), sourceLocation: sourceLocation)
        home.write("InRelease.content", content)
        home.write("InRelease.sig", signature)
        for keyFile in [keyring, armoredKeyring] {
            for arguments in [["InRelease.sig", "InRelease.content"], ["Release.gpg", "Release"]] {
                let sqv = home.run("sqv", ["--keyring", keyFile] + arguments, sourceLocation: sourceLocation)
                #expect(sqv.status == 0, "sqv --keyring \(keyFile) \(arguments): \(sqv.stderr)", sourceLocation: sourceLocation)
                #expect(sqv.output.contains(key.certificate.fingerprint), "\(sqv.output)", sourceLocation: sourceLocation)
            }
        }

        // A changed Release: both tools refuse (so the checks above could have failed).
        home.write("Release", release.replacingOccurrences(of: "stable", with: "testing"))
        #expect(home.run("gpgv", ["--keyring", keyring, "Release.gpg", "Release"], sourceLocation: sourceLocation).status != 0, sourceLocation: sourceLocation)
        #expect(home.run("sqv", ["--keyring", keyring, "Release.gpg", "Release"], sourceLocation: sourceLocation).status != 0, sourceLocation: sourceLocation)
    }

    /// The signed text and the signature block of a cleartext message, split the way apt's
    /// SplitClearSignedFile does: lines joined by LF, dash-escapes removed, no final line break.
    static func split(_ message: String) -> (String, String)? {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        guard let blank = lines.firstIndex(of: ""), let begin = lines.firstIndex(of: "-----BEGIN PGP SIGNATURE-----") else { return nil }
        let text = lines[(blank + 1)..<begin].map { $0.hasPrefix("- ") ? $0.dropFirst(2) : $0 }.joined(separator: "\n")
        return (text, lines[begin...].joined(separator: "\n"))
    }

    @Test("a key made by gpg --quick-gen-key is read, and InRelease and Release.gpg signed with it verify with gpgv and sqv",
          arguments: [("ed25519", OpenPGPHashAlgorithm.sha512), ("rsa3072", .sha256), ("rsa3072", .sha512)])
    func gpgKeySigns(_ algorithm: String, _ hash: OpenPGPHashAlgorithm) throws {
        let home = GnuPGHome()
        let userID = "Test \(algorithm) <\(algorithm)@example.com>"
        let fingerprint = home.generateKey(userID, algorithm: algorithm)
        let exported = home.gpg(["--armor", "--export-secret-keys", fingerprint]).output
        let key = try OpenPGPSecretKey(armored: exported)
        #expect(key.certificate.fingerprint == fingerprint)
        #expect(key.signingFingerprint == fingerprint)
        #expect(key.certificate.userIDs == [userID])
        // The public half is what gpg exports for the key, byte for byte.
        #expect(key.certificate.binary == Array(home.gpg(["--export", fingerprint]).stdout))
        try Self.checkWithTools(home, key: key, hash: hash)
    }

    @Test("a certify-only gpg key signs through its signing subkey; gpgv and sqv accept it")
    func gpgSigningSubkey() throws {
        let home = GnuPGHome()
        let primary = home.generateKey("Subkeys <subkeys@example.com>", algorithm: "ed25519", usage: "cert")
        home.gpg(["--passphrase", "", "--quick-add-key", primary, "ed25519", "sign"])
        home.gpg(["--passphrase", "", "--quick-add-key", primary, "cv25519", "encr"])
        let fingerprints = home.fingerprints(of: primary)
        #expect(fingerprints.count == 3)
        let key = try OpenPGPSecretKey(armored: home.gpg(["--armor", "--export-secret-keys", primary]).output)
        #expect(key.certificate.fingerprint == primary)
        #expect(key.signingFingerprint == fingerprints[1])
        try Self.checkWithTools(home, key: key, hash: .sha512)
    }

    @Test("a key made by our generator is imported by gpg, signs there, and its own signatures verify with gpgv and sqv")
    func generatedKeyWorksWithGnuPG() throws {
        let home = GnuPGHome()
        let key = try OpenPGPSecretKey.generate(userID: "Example APT repository <apt@example.com>", created: Date(timeIntervalSince1970: 1_790_000_000))
        home.write("secret.asc", key.armored)
        home.gpg(["--import", "secret.asc"])
        let listing = home.gpg(["--with-colons", "--list-secret-keys", key.certificate.fingerprint]).output
        let sec = try #require(listing.split(separator: "\n").first { $0.hasPrefix("sec:") }).split(separator: ":", omittingEmptySubsequences: false)
        #expect(sec[3] == "22", "EdDSA")
        #expect(sec[11].contains("s") && sec[11].contains("c"), "sign and certify: \(sec[11])")
        #expect(listing.contains("::Example APT repository <apt@example.com>:"))

        // gpg signs with the imported secret (so it read our secret key packet), we verify it.
        home.write("SHA256SUMS", "abc  file.zip\n")
        home.gpg(["--local-user", key.certificate.fingerprint, "--detach-sign", "--output", "SHA256SUMS.sig", "SHA256SUMS"])
        let verified = try OpenPGPVerifier(keys: [Array(key.certificate.armored.utf8)]).verify(signature: home.read("SHA256SUMS.sig"), over: home.read("SHA256SUMS"))
        #expect(verified.signingKeyFingerprint == key.certificate.fingerprint)

        try Self.checkWithTools(home, key: key, hash: .sha512)
    }

    @Test("detached signatures made by gpg (binary and armored) verify with our verifier; a tampered file does not",
          arguments: ["ed25519", "rsa3072"])
    func gpgSignaturesVerify(_ algorithm: String) throws {
        let home = GnuPGHome()
        let fingerprint = home.generateKey("Releases <releases@example.com>", algorithm: algorithm)
        let sums = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  terraform-provider-x_1.0.0_linux_amd64.zip\n"
        home.write("SHA256SUMS", sums)
        // goreleaser's default signing command, then the armored form.
        home.gpg(["--local-user", fingerprint, "--output", "SHA256SUMS.sig", "--detach-sign", "SHA256SUMS"])
        home.gpg(["--local-user", fingerprint, "--armor", "--output", "SHA256SUMS.asc", "--detach-sign", "SHA256SUMS"])
        home.gpg(["--local-user", fingerprint, "--textmode", "--output", "SHA256SUMS.txt.sig", "--detach-sign", "SHA256SUMS"])
        let publicKey = home.gpg(["--armor", "--export", fingerprint]).stdout
        let verifier = try OpenPGPVerifier(keys: [Array(publicKey)])
        for name in ["SHA256SUMS.sig", "SHA256SUMS.asc", "SHA256SUMS.txt.sig"] {
            let result = try verifier.verify(signature: home.read(name), over: Array(sums.utf8))
            #expect(result.certificate.fingerprint == fingerprint)
            #expect(throws: CryptoError.self) { try verifier.verify(signature: home.read(name), over: Array(sums.replacingOccurrences(of: "e3b0", with: "e3b1").utf8)) }
        }
        // Another key's signature is not accepted.
        let other = OpenPGPVerifier(certificates: [try OpenPGPSecretKey.generate(userID: "Other <o@example.com>", created: Self.time).certificate])
        #expect(throws: CryptoError.self) { try other.verify(signature: home.read("SHA256SUMS.sig"), over: Array(sums.utf8)) }
    }
}

private extension Substring {
    func trimmingASCIIWhitespaceAtEnd() -> Substring {
        var line = self
        while let last = line.last, last == " " || last == "\t" { line = line.dropLast() }
        return line
    }
}
