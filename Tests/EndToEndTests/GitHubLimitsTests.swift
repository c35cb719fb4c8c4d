import Foundation
import Middlewares
import Pipeline
import Testing

/// The `github` source within GitHub's limits: every call, downloads included, goes through the
/// rate limiter; calls in flight are bounded; clients see short reasons, never GitHub's answers.
@Suite("github source within GitHub's limits")
struct GitHubLimitsTests {
    @Test("with the rate limit spent, a tarball and an asset download get 503 with Retry-After and no further GitHub call until the reset")
    func downloadsUnderTheRateLimiter() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("terraform-provider-x")
        repo.tag("v1.0.0")
        let payload = SecureRandom.bytes(50_000)
        repo.release("v1.0.0", assets: ["x.zip": payload])
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn)
        let asset = try #require(try await harness.source.releases(repo: "terraform-provider-x").first?.assets.first)
        let sha = repo.head
        // What GitHub reported is what /metrics shows, labelled with the source's pointer.
        #expect(harness.metricsText.contains(#/\ngateway_github_ratelimit_remaining\{source="/sources/org"\} [1-9][0-9]*\n/#), "\(harness.metricsText)")
        #expect(harness.metricsText.contains("\ngateway_github_ratelimit_blocked{source=\"/sources/org\"} 0\n"))

        try await standIn.knobs(["rateLimit": ["exhausted": true, "resetInSeconds": 20]])
        try await standIn.resetCounters()
        // One curl for the four downloads, so they follow each other within milliseconds whatever
        // the test threads are doing: the limit still holds for every one.
        let paths = ["/asset/terraform-provider-x/\(asset.id)", "/tarball/terraform-provider-x/\(sha)",
                     "/asset/terraform-provider-x/\(asset.id)", "/tarball/terraform-provider-x/\(sha)"]
        let answers = Tool.curl(["-w", "%{http_code} %header{retry-after}\n", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                                 "-o", "/dev/null"] + paths.map(harness.url)).output.split(separator: "\n")
        #expect(answers.count == 4)
        for answer in answers {
            let parts = answer.split(separator: " ")
            #expect(parts.first == "503", "\(answer)")
            let retryAfter = parts.count == 2 ? Int(parts[1]) ?? 0 : 0
            #expect(retryAfter > 0 && retryAfter <= 21, "\(answer)")
        }
        let refused = try await harness.get(paths[0])
        #expect(!String(decoding: refused.body, as: UTF8.self).contains("answered"), "a short reason")
        let limited = try await standIn.counters()
        #expect(limited["api"] == 1, "the first download learnt that the limit is spent; no download called GitHub after it: \(limited)")
        #expect(limited["api.limited"] == 1)
        #expect(limited["objects"] == nil && limited["codeload"] == nil)
        #expect(harness.metricsText.contains("\ngateway_github_ratelimit_remaining{source=\"/sources/org\"} 0\n"), "\(harness.metricsText)")
        #expect(harness.metricsText.contains("\ngateway_github_ratelimit_blocked{source=\"/sources/org\"} 1\n"))

        // After the reset the same downloads go through: one API call each, then the storage host.
        try await Task.sleep(for: .seconds(21))
        let asAsset = try await harness.get("/asset/terraform-provider-x/\(asset.id)")
        #expect(asAsset.status == 200 && asAsset.body == payload)
        let tarball = try await harness.get("/tarball/terraform-provider-x/\(sha)")
        #expect(tarball.status == 200 && tarball.body.starts(with: [0x1F, 0x8B]))
        let counters = try await standIn.counters()
        #expect(counters["api.asset.302"] == 1 && counters["api.tarball.302"] == 1, "\(counters)")
        #expect(counters["objects.served"] == 1 && counters["codeload.tarball"] == 1)
        #expect(counters["objects.refusedAuthorization"] == nil, "the token stayed with the API")
    }

    /// A gateway with the Terraform registry over a provider with `releases` releases (a zip,
    /// SHA256SUMS and a manifest each) and a `github` source allowed `maxConcurrentCalls` calls.
    struct ProviderWorld {
        let fixtures: GitHubFixtures
        let standIn: StandInProcess
        let gateway: GatewayProcess
        let zips: [String: [UInt8]]

        init(releases: Int, maxConcurrentCalls: Int) throws {
            fixtures = GitHubFixtures()
            let repo = fixtures.repo("terraform-provider-hello")
            var zips: [String: [UInt8]] = [:]
            for minor in 0..<releases {
                let version = "1.\(minor).0"
                let zipName = "terraform-provider-hello_\(version)_linux_amd64.zip"
                let zip = SecureRandom.bytes(2_000)
                zips[zipName] = zip
                let sums = "\(Hex.encode(Digest.sha256(zip)))  \(zipName)\n"
                let manifest = #"{"version": 1, "metadata": {"protocol_versions": ["6.0"]}}"#
                // A release needs no git tag in the stand-in; 30 git runs would hold a test thread.
                repo.release("v\(version)", assets: [zipName: zip, "terraform-provider-hello_\(version)_SHA256SUMS": Array(sums.utf8),
                                                     "terraform-provider-hello_\(version)_manifest.json": Array(manifest.utf8)])
            }
            self.zips = zips
            standIn = try StandInProcess(fixtures: fixtures)
            gateway = try GatewayProcess(config: """
                {"version": 1, "listeners": [{"name": "http", "listen": "127.0.0.1:0"}],
                 "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)",
                                     "maxConcurrentCalls": \(maxConcurrentCalls),
                                     "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                             "privateKeyFile": "\(fixtures.appKeyPath)"}}},
                 "stacks": {"terraform": {"chain": [{"type": "terraform.registry", "providers": "org"}, {"type": "upstream"}]}}}
                """)
        }

        func get(_ path: String) async throws -> (status: Int, body: [UInt8]) {
            let response = try await HTTPClient.shared.get(gateway.url("http", path))
            return (response.status.code, try await response.body.collect(upTo: 16 << 20))
        }
    }

    @Test("a provider with 30 releases is listed with at most the configured number of GitHub calls in flight")
    func boundedConcurrency() async throws {
        let world = try ProviderWorld(releases: 30, maxConcurrentCalls: 3)
        // GitHub answers slowly and refuses a fourth concurrent call, as its secondary limit would.
        try await world.standIn.knobs(["latencyMs": 100, "maxConcurrent": 3])
        try await world.standIn.resetCounters()
        let versions = try await world.get("/v1/providers/acme/hello/versions")
        #expect(versions.status == 200, "\(String(decoding: versions.body, as: UTF8.self))")
        let listed = try JSONParser.parse(versions.body)["versions"]?.array?.compactMap { $0["version"]?.string } ?? []
        #expect(Set(listed) == Set((0..<30).map { "1.\($0).0" }), "every release is listed: \(listed.count)")
        let counters = try await world.standIn.counters()
        #expect(counters["api.asset.302"] == 60, "SHA256SUMS and manifest of each release: \(counters)")
        #expect((counters["api.peakConcurrency"] ?? 99) <= 3, "peak \(counters["api.peakConcurrency"] ?? -1)")
        #expect(counters["api.concurrencyLimited"] == nil)
    }

    @Test("when GitHub fails a download, the client gets a short reason and the log keeps GitHub's status")
    func shortReasons() async throws {
        let world = try ProviderWorld(releases: 1, maxConcurrentCalls: 8)
        #expect(try await world.get("/v1/providers/acme/hello/versions").status == 200)
        try await world.standIn.knobs(["serverErrors": ["status": 503, "count": 1, "on": "objects"]])
        let zip = "terraform-provider-hello_1.0.0_linux_amd64.zip"
        let failed = try await world.get("/v1/providers/acme/hello/1.0.0/files/\(zip)")
        let message = String(decoding: failed.body, as: UTF8.self)
        #expect(failed.status == 502)
        #expect(message.contains("upstream unavailable") && !message.contains("503") && !message.contains("answered"), "\(message)")
        #expect(world.gateway.waitForLog("\"status\":\"503\""), "the log keeps the storage host's status")
        let retried = try await world.get("/v1/providers/acme/hello/1.0.0/files/\(zip)")
        #expect(retried.status == 200 && retried.body == world.zips[zip])
    }
}
