import Foundation
import Testing

/// A throwaway GnuPG home for driving the real gpg, gpgv and sqv. Its gpg-agent (gpg starts one
/// per home) is stopped when the value goes away, so no daemon outlives the test.
final class GnuPGHome: @unchecked Sendable {
    let directory = TemporaryDirectory("openpgp")

    var path: String { directory.path + "/gnupg" }

    init() {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    deinit {
        // Only this home's agent: gpgconf addresses it by GNUPGHOME.
        _ = Tool.run("gpgconf", ["--kill", "all"], environment: ["GNUPGHOME": path], timeout: 30)
    }

    /// Runs `tool` (gpg, gpgv, sqv) with GNUPGHOME set to this home, in the temporary directory.
    @discardableResult
    func run(_ tool: String, _ arguments: [String], timeout: TimeInterval = 120, sourceLocation: SourceLocation = #_sourceLocation) -> Tool.Result {
        Tool.run(tool, arguments, environment: ["GNUPGHOME": path], directory: directory.path, timeout: timeout, sourceLocation: sourceLocation)
    }

    /// `gpg --batch` with `arguments`; a non-zero exit is recorded as a test failure.
    @discardableResult
    func gpg(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> Tool.Result {
        let result = run("gpg", ["--batch", "--no-tty"] + arguments, sourceLocation: sourceLocation)
        #expect(result.status == 0, "gpg \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        return result
    }

    /// Makes an unprotected key with `gpg --quick-gen-key USERID ALGO USAGE` and returns its
    /// primary fingerprint.
    func generateKey(_ userID: String, algorithm: String, usage: String = "default", sourceLocation: SourceLocation = #_sourceLocation) -> String {
        gpg(["--passphrase", "", "--quick-gen-key", userID, algorithm, usage], sourceLocation: sourceLocation)
        return fingerprints(of: userID, sourceLocation: sourceLocation).first ?? ""
    }

    /// The primary and subkey fingerprints gpg lists for `userID`, primary first.
    func fingerprints(of userID: String, secret: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        let listing = gpg(["--with-colons", "--with-subkey-fingerprints", secret ? "--list-secret-keys" : "--list-keys", userID], sourceLocation: sourceLocation)
        return listing.output.split(separator: "\n").filter { $0.hasPrefix("fpr:") }.map { String($0.split(separator: ":", omittingEmptySubsequences: false)[9]) }
    }

    /// Writes a file into the temporary directory and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String { directory.write(name, Data(bytes)) }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { directory.write(name, text) }

    func read(_ name: String) -> [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: directory.file(name)))) ?? Data()) }
}
