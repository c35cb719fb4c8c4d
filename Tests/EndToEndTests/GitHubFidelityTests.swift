import Foundation
@testable import Middlewares
import Pipeline
import Testing

/// The `github` source where GitHub is less kind than a naive stand-in: unfinished uploads,
/// folders under the raw media type, a fast clock, Client-ID issuers, renamed repositories, long
/// stateless tokens and personal accounts.
@Suite("github source against a stand-in as strict as GitHub")
struct GitHubFidelityTests {
    @Test("an asset still uploading (state open) is left out, and listed once it is uploaded")
    func openAssets() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("tool")
        repo.tag("v1.0.0")
        let assets = ["tool_1.0.0_amd64.deb": SecureRandom.bytes(1_000), "SHA256SUMS": Array("sums\n".utf8)]
        repo.release("v1.0.0", assets: assets, uploading: ["tool_1.0.0_amd64.deb"])
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"0s\"")

        let raw = Tool.curl(["-H", "Authorization: Bearer \(fixtures.userToken)", standIn.api + "/repos/acme/tool/releases"]).output
        let states = try JSONParser.parse(raw).array?.first?["assets"]?.array?.compactMap { $0["state"]?.string } ?? []
        #expect(states.sorted() == ["open", "uploaded"], "the stand-in lists the unfinished upload as GitHub does")
        #expect(try await harness.source.releases(repo: "tool").first?.assets.map(\.name) == ["SHA256SUMS"])
        #expect(try await harness.source.release(repo: "tool", tag: "v1.0.0")?.assets.map(\.name) == ["SHA256SUMS"])

        repo.release("v1.0.0", assets: assets)
        #expect(try await harness.source.releases(repo: "tool").first?.assets.map(\.name).sorted() == ["SHA256SUMS", "tool_1.0.0_amd64.deb"])
    }

    @Test("a folder asked for as a file is not a file: the source answers nil and the probe 404")
    func folderIsNotAFile() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("apt", files: ["dists/stable/Release": "Suite: stable\n", "README.md": "apt\n"])
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn)

        // GitHub answers a folder under the raw media type with its JSON listing.
        let listing = Tool.curl(["-i", "-H", "Accept: application/vnd.github.raw+json", "-H", "Authorization: Bearer \(fixtures.userToken)",
                                 standIn.api + "/repos/acme/apt/contents/dists"]).output
        #expect(listing.hasPrefix("HTTP/1.1 200") && listing.contains("Content-Type: application/json"))
        #expect(try await harness.source.file(repo: "apt", path: "dists") == nil)
        #expect(try await harness.source.file(repo: "apt", path: "dists/stable") == nil)
        #expect(try await harness.get("/file/apt/dists/stable").status == 404)
        #expect(try await harness.source.file(repo: "apt", path: "dists/stable/Release") == Array("Suite: stable\n".utf8))
        #expect(try await harness.get("/file/apt/README.md").body == Array("apt\n".utf8))
    }

    @Test("a host whose clock runs 90 s fast gets a token: the refused JWT is signed again in GitHub's time, and so are later ones")
    func clockSkew() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        try await standIn.knobs(["clockSkewSeconds": -90])
        // The stand-in refuses what GitHub refuses: a JWT issued (60 s back, as recommended) in its future.
        #expect(GitHubStandInTests.mint(standIn, jwt: try GitHubStandInTests.appJWT(fixtures)).status == "401")
        try await standIn.resetCounters()
        let harness = try GitHubSourceHarness(standIn: standIn)

        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"])
        var counters = try await standIn.counters()
        #expect(counters["api.tokens.401"] == 1 && counters["api.tokens.201"] == 1, "one refusal, one corrected JWT: \(counters)")
        guard case .app(let tokens) = harness.source.credentials else { Issue.record("not an App source"); return }
        #expect(abs(tokens.clockOffset - 90) <= 3, "the skew measured from GitHub's Date: \(tokens.clockOffset)")

        // The next token (this one revoked) is asked for in GitHub's time at once: no second refusal.
        try await standIn.knobs(["revokeTokens": true])
        harness.source.invalidateAll()
        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"])
        counters = try await standIn.counters()
        #expect(counters["api.tokens.201"] == 2 && counters["api.tokens.401"] == 1, "\(counters)")
    }

    @Test("the App's Client ID as the JWT issuer, as GitHub recommends")
    func clientIDIssuer() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc", private: true).tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, auth: .appClientID)
        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"], "a private repository, so the token works")
        #expect(try await harness.source.repositories().map(\.name) == ["vpc"])
        #expect(try await standIn.counter("api.tokens.201") == 1)
    }

    @Test("a renamed repository: the old name's 301 is followed for metadata, tarballs and assets")
    func renamedRepository() async throws {
        let fixtures = GitHubFixtures()
        let old = fixtures.repo("terraform-aws-net", private: true, files: ["main.tf": "# net\n"])
        old.tag("v1.0.0")
        let payload = SecureRandom.bytes(20_000)
        old.release("v1.0.0", assets: ["net.zip": payload])
        let renamed = old.rename(to: "terraform-aws-network")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn)

        #expect(try await harness.source.tags(repo: "terraform-aws-net") == [GitTag(name: "v1.0.0", sha: renamed.head)])
        let asset = try #require(try await harness.source.releases(repo: "terraform-aws-net").first?.assets.first)
        let download = try await harness.get("/asset/terraform-aws-net/\(asset.id)")
        #expect(download.status == 200 && download.body == payload)
        let tarball = try await harness.get("/tarball/terraform-aws-net/v1.0.0")
        #expect(tarball.status == 200)
        let directory = TemporaryDirectory()
        directory.write("net.tar.gz", Data(tarball.body))
        #expect(Tool.run("tar", ["-tzf", directory.file("net.tar.gz")]).output.contains("/main.tf"))
        let counters = try await standIn.counters()
        #expect((counters["api.moved.301"] ?? 0) >= 4, "tags, releases, the asset and the tarball were redirected: \(counters)")
        #expect(counters["objects.refusedAuthorization"] == nil)
    }

    @Test("long stateless installation tokens (ghs_<app>_<JWT>, about 520 characters) are used like short ones")
    func statelessTokens() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc", private: true).tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        try await standIn.knobs(["statelessTokens": true])
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"0s\"")
        for _ in 0..<3 { #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"]) }
        let token = try await harness.source.credentials.authorization() ?? ""
        #expect(token.hasPrefix("Bearer ghs_\(fixtures.appID)_") && token.count > 400, "\(token.count) characters")
        #expect(token.filter { $0 == "." }.count == 2)
        let counters = try await standIn.counters()
        #expect(counters["api.tokens.201"] == 1 && counters["api.unauthorized"] == nil, "\(counters)")
    }

    @Test("a user's source with that user's token lists the private repositories too; without a token the public ones")
    func userOwnedSource() async throws {
        let fixtures = GitHubFixtures(owner: "alice", ownerType: "User")
        fixtures.repo("dotfiles").tag("v1.0.0")
        fixtures.repo("terraform-aws-home", private: true).tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let withToken = try GitHubSourceHarness(standIn: standIn, auth: .token)
        #expect(try await withToken.source.repositories().map(\.name).sorted() == ["dotfiles", "terraform-aws-home"])
        #expect(try await standIn.counter("api.repos.404") == 1, "alice is not an organisation; asked once")
        #expect(try await withToken.source.repositories().count == 2)
        #expect(try await standIn.counter("api.repos.404") == 1)
        let anonymous = try GitHubSourceHarness(standIn: standIn, auth: .none)
        #expect(try await anonymous.source.repositories().map(\.name) == ["dotfiles"])
    }
}
