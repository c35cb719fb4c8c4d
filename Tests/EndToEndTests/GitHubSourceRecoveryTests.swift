import Foundation
import Middlewares
import Pipeline
import Testing

/// The `github` source when things go wrong: refused tokens, GitHub failures, other API bases, bad config.
@Suite("github source: recovery and configuration")
struct GitHubSourceRecoveryTests {
    @Test("a 401 on a cached installation token causes one refresh and one retry")
    func refreshAfterUnauthorized() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"0s\"")
        #expect(try await harness.source.tags(repo: "vpc").count == 1)
        try await standIn.knobs(["revokeTokens": true])
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await harness.source.tags(repo: "vpc").count } }
            for try await count in group { #expect(count == 1) }
        }
        let counters = try await standIn.counters()
        #expect(counters["api.tokens"] == 2, "one new token for all the refused callers")
        #expect((counters["api.unauthorized"] ?? 0) >= 1)
    }

    @Test("an Enterprise Server API path (/api/v3) with a token: calls and pagination stay under it")
    func enterprisePrefix() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tags((1...150).map { "v1.\($0).0" })
        let standIn = try StandInProcess(fixtures: fixtures, arguments: ["--api-prefix", "/api/v3"])
        #expect(standIn.api.hasSuffix("/api/v3"))
        let harness = try GitHubSourceHarness(standIn: standIn, auth: .token)
        #expect(try await harness.source.tags(repo: "vpc").count == 150)
        #expect(try await standIn.counter("api.tags") == 2)
        #expect(try await harness.source.repositories().map(\.name) == ["vpc"])
    }

    @Test("over https with a private CA (caFile), as against an Enterprise Server: metadata and a redirected asset")
    func tlsWithPrivateCA() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("tool", private: true)
        repo.tag("v1.0.0")
        let payload = SecureRandom.bytes(70_000)
        repo.release("v1.0.0", assets: ["tool_1.0.0_amd64.deb": payload])
        let certificates = TemporaryDirectory("standin-certs")
        let standIn = try StandInProcess(fixtures: fixtures, arguments: ["--tls", certificates.path])
        #expect(standIn.api.hasPrefix("https://"))
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"caFile\": \"\(certificates.file("ca.pem"))\"")
        let asset = try #require(try await harness.source.release(repo: "tool", tag: "v1.0.0")?.assets.first)
        let download = try await harness.get("/asset/tool/\(asset.id)")
        #expect(download.status == 200)
        #expect(download.body == payload)
        #expect(try await standIn.counter("objects.served") == 1)
    }

    @Test("GitHub 5xx: stale metadata is served; with nothing cached clients get 502")
    func serverErrors() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        fixtures.repo("dns").tag("v2.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"1s\"")
        let primed = try await harness.get("/tags/vpc")
        try await Task.sleep(for: .milliseconds(1200))
        try await standIn.knobs(["serverErrors": ["status": 502, "count": 10, "on": "api"]])
        let stale = try await harness.get("/tags/vpc")
        #expect(stale.status == 200)
        #expect(stale.body == primed.body)
        let missing = try await harness.get("/tags/dns")
        #expect(missing.status == 502)
        #expect(!String(decoding: missing.body, as: UTF8.self).contains("127.0.0.1"), "the client is not told where GitHub is")
    }

    @Test("configuration mistakes are reported with JSON pointers by gateway check")
    func configErrors() throws {
        let directory = TemporaryDirectory()
        let path = directory.write("pipeline.json", """
            {"version": 1, "listeners": [{"listen": "127.0.0.1:0"}],
             "sources": {"org": {"type": "github", "owner": "acme", "api": "ftp://x", "token": "t",
                                 "app": {"id": "1", "installation": "abc", "privateKeyFile": "missing.pem", "extra": 1}},
                         "pub": {"type": "github", "owner": "acme"}},
             "stacks": {"hooks": {"chain": [{"type": "github.webhook", "source": ["org", "nope"], "secret": ""}]}}}
            """)
        let result = Tool.run(Paths.gateway, ["check", path])
        #expect(result.status == 1)
        let output = result.output
        #expect(output.contains("/sources/org/api"))
        #expect(output.contains("/sources/org/token: give either \"app\" or \"token\", not both"))
        #expect(output.contains("/sources/org/app/installation: expected the numeric installation id"))
        #expect(output.contains("/sources/org/app/privateKeyFile"))
        #expect(output.contains("/sources/org/app/extra: unknown option"))
        #expect(output.contains("/sources/pub: no \"app\" or \"token\""))
        #expect(output.contains("/stacks/hooks/chain/0/source/1: unknown source \"nope\""))
        #expect(output.contains("/stacks/hooks/chain/0/secret"))

        directory.write("token", "ghp_x\n")
        directory.write("hook-secret", "s3cret\n")
        let valid = directory.write("valid.json", """
            {"version": 1, "listeners": [{"listen": "127.0.0.1:0"}],
             "sources": {"org": {"type": "github", "owner": "acme", "api": "https://github.example.com/api/v3", "tokenFile": "token",
                                 "freshFor": "5m", "cacheBytes": "8MiB"}},
             "stacks": {"hooks": {"chain": [{"type": "github.webhook", "source": "org", "secretFile": "hook-secret"}]}}}
            """)
        let ok = Tool.run(Paths.gateway, ["check", valid])
        #expect(ok.status == 0, "\(ok.output)")
    }
}
