import Foundation
import Pipeline
import Testing

/// A fixture folder for `github-standin`, built from a test with real git: repositories with
/// commits, tags and branches, release JSON with asset files, and `standin.json` with a fresh
/// GitHub App key pair.
///
/// ```swift
/// let fixtures = GitHubFixtures()
/// let vpc = fixtures.repo("terraform-aws-vpc", topics: ["terraform-module"])
/// vpc.commit(["main.tf": "# v1"])
/// vpc.tag("v1.0.0")
/// vpc.release("v1.0.0", assets: ["notes.txt": Array("hi".utf8)])
/// let standIn = try StandInProcess(fixtures: fixtures)
/// ```
final class GitHubFixtures: @unchecked Sendable {
    let directory = TemporaryDirectory("github-fixtures")
    let owner: String
    let appID = 1001
    /// The App's Client ID, which GitHub also accepts as the JWT's `iss`.
    let clientID = "Iv23li" + SecureRandom.hex(7)
    let installation = 2002
    /// `Organization`, or `User` for a personal account (whose user the user token is).
    let ownerType: String
    /// The App's private key (PEM at `appKeyPath`), for the gateway's `github` source.
    let appKey: PrivateKey
    /// A token configured as a user's personal access token (sees private repositories and drafts).
    let userToken = "ghp_" + SecureRandom.hex(18)
    var tokenLifetime: Double
    var rateLimit = 5000
    var oidcRequestToken = "runner-" + SecureRandom.hex(8)

    init(owner: String = "acme", ownerType: String = "Organization", tokenLifetime: Double = 3600) {
        self.owner = owner
        self.ownerType = ownerType
        self.tokenLifetime = tokenLifetime
        appKey = try! PrivateKey.generate(.rsa(bits: 2048))
        directory.write("app.pem", appKey.pem)
        directory.write("app.pub.pem", try! appKey.publicKey.pem)
        try! FileManager.default.createDirectory(atPath: directory.path + "/repos/\(owner)", withIntermediateDirectories: true)
    }

    var root: String { directory.path }
    var appKeyPath: String { directory.file("app.pem") }

    /// Writes `standin.json` (the stand-in reads it once at start).
    func writeConfig() {
        directory.write("standin.json", """
            {"owners": {"\(owner)": {"type": "\(ownerType)"}},
             "app": {"id": \(appID), "clientId": "\(clientID)", "publicKeyFile": "app.pub.pem",
                     "installations": [{"id": \(installation), "account": "\(owner)"}]},
             "tokens": [{"token": "\(userToken)", "drafts": true, "login": "\(owner)"}],
             "tokenLifetimeSeconds": \(tokenLifetime), "rateLimit": \(rateLimit),
             "oidc": {"requestToken": "\(oidcRequestToken)"}}
            """)
    }

    /// A new git repository `owner/name` with one commit on `main`.
    @discardableResult
    func repo(_ name: String, private isPrivate: Bool = false, topics: [String] = [], description: String? = nil,
              files: [String: String] = ["README.md": "fixture\n"]) -> FixtureRepository {
        let repository = FixtureRepository(fixtures: self, name: name)
        repository.git(["init", "-q", "-b", "main"])
        repository.commit(files, message: "initial")
        repository.setMetadata(private: isPrivate, topics: topics, description: description)
        return repository
    }
}

/// One fixture repository: git commands run in its working tree.
final class FixtureRepository: @unchecked Sendable {
    let fixtures: GitHubFixtures
    let name: String
    let path: String

    init(fixtures: GitHubFixtures, name: String) {
        self.fixtures = fixtures
        self.name = name
        path = fixtures.root + "/repos/\(fixtures.owner)/\(name)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Runs git here; a failure is recorded as a test issue.
    @discardableResult
    func git(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let result = Tool.run("git", ["-c", "user.name=Fixture", "-c", "user.email=fixture@example.com", "-c", "commit.gpgsign=false",
                                      "-c", "tag.gpgsign=false", "-C", path] + arguments, sourceLocation: sourceLocation)
        if result.status != 0 { Issue.record("git \(arguments.joined(separator: " ")) failed: \(result.stderr)", sourceLocation: sourceLocation) }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `files` and commits them; returns the commit SHA.
    @discardableResult
    func commit(_ files: [String: String], message: String = "change") -> String {
        for (file, contents) in files {
            let full = path + "/" + file
            try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try! Data(contents.utf8).write(to: URL(fileURLWithPath: full))
        }
        git(["add", "-A"])
        git(["commit", "-q", "--allow-empty", "-m", message])
        return git(["rev-parse", "HEAD"])
    }

    /// Tags HEAD (or `commit`); annotated tags get a message.
    func tag(_ tag: String, annotated: Bool = false, at commit: String = "HEAD") {
        git(annotated ? ["tag", "-a", tag, "-m", "release \(tag)", commit] : ["tag", tag, commit])
    }

    /// Many lightweight tags on HEAD at once (one git process).
    func tags(_ names: [String]) {
        let head = git(["rev-parse", "HEAD"])
        let input = names.map { "create refs/tags/\($0) \(head)\n" }.joined()
        let result = Tool.run("git", ["-C", path, "update-ref", "--stdin"], input: Data(input.utf8))
        if result.status != 0 { Issue.record("git update-ref failed: \(result.stderr)") }
    }

    var head: String { git(["rev-parse", "HEAD"]) }

    /// `repos/<owner>/<name>.json`: visibility, topics, description.
    func setMetadata(private isPrivate: Bool, topics: [String] = [], description: String? = nil) {
        var object: [String: Any] = ["private": isPrivate, "topics": topics]
        if let description { object["description"] = description }
        let data = try! JSONSerialization.data(withJSONObject: object)
        try! data.write(to: URL(fileURLWithPath: path + ".json"))
    }

    /// Tags v1.0.0 and publishes the example provider (examples/registry, acme/hello 1.0.0: zips,
    /// signed SHA256SUMS, manifest) as its release; returns the assets by name.
    @discardableResult
    func exampleProviderRelease() throws -> [String: [UInt8]] {
        let folder = Paths.root + "/examples/registry/providers/acme/hello/1.0.0"
        var assets: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            assets[name] = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
        }
        tag("v1.0.0")
        release("v1.0.0", assets: assets)
        return assets
    }

    /// A release of `tag` with assets (files beside the release JSON); assets named in `uploading`
    /// are listed in state `open`, as GitHub lists an asset whose upload has not finished.
    func release(_ tag: String, name: String? = nil, draft: Bool = false, prerelease: Bool = false, assets: [String: [UInt8]] = [:],
                 uploading: Set<String> = []) {
        let base = fixtures.root + "/releases/\(fixtures.owner)/\(self.name)"
        let stem = tag.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
        try! FileManager.default.createDirectory(atPath: base + "/" + stem, withIntermediateDirectories: true)
        for (file, bytes) in assets { try! Data(bytes).write(to: URL(fileURLWithPath: base + "/\(stem)/\(file)")) }
        let listed: [Any] = assets.keys.sorted().map { name -> Any in uploading.contains(name) ? ["name": name, "state": "open"] as [String: String] : name }
        let object: [String: Any] = ["name": name ?? tag, "draft": draft, "prerelease": prerelease, "assets": listed]
        try! JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: base + "/\(stem).json"))
    }

    /// Renames the repository to `newName`, as GitHub does: the old name answers 301 to the
    /// repository (by id) from then on. Returns the repository under its new name.
    @discardableResult
    func rename(to newName: String) -> FixtureRepository {
        let base = fixtures.root + "/repos/\(fixtures.owner)/"
        try! FileManager.default.moveItem(atPath: path, toPath: base + newName)
        try! FileManager.default.moveItem(atPath: path + ".json", toPath: base + newName + ".json")
        try! JSONSerialization.data(withJSONObject: ["movedTo": newName]).write(to: URL(fileURLWithPath: path + ".json"))
        let releases = fixtures.root + "/releases/\(fixtures.owner)/"
        if FileManager.default.fileExists(atPath: releases + name) { try! FileManager.default.moveItem(atPath: releases + name, toPath: releases + newName) }
        return FixtureRepository(fixtures: fixtures, name: newName)
    }
}
