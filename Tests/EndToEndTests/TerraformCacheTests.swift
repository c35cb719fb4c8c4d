import Foundation
import Pipeline
import Testing

/// A Terraform stack whose cache sits after the registry, `[terraform.registry, cache, upstream]`:
/// the cache then keeps the GitHub objects themselves (release assets by id), and everything the
/// registry fetches, for its clients and for itself, goes through it (issue 11).
@Suite("terraform registry in front of a cache: objects fetched once", .serialized)
struct TerraformCacheTests {
    static let token = "tf-cache-token-0123456789abcdef0123456789"

    struct World {
        let fixtures: GitHubFixtures
        let standIn: StandInProcess
        let gateway: GatewayProcess
        let certificates: TestCertificates
        /// The provider's package zips, by name.
        let zips: [String]
        var port: Int { gateway.port("https") }
    }

    static func world() throws -> World {
        let fixtures = GitHubFixtures()
        let assets = try fixtures.repo("terraform-provider-hello").exampleProviderRelease()
        let standIn = try StandInProcess(fixtures: fixtures)
        let certificates = TestCertificates()
        let hash = Tool.run(Paths.gateway, ["hash-password", "--token"], input: Data((token + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "signedURLs": {"keys": [{"id": "k1", "secret": "0123456789abcdef0123456789abcdef-cache"}]},
             "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)", "freshFor": "1h",
                                 "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                         "privateKeyFile": "\(fixtures.appKeyPath)"}}},
             "stacks": {
               "terraform": {"chain": [
                 {"type": "log"},
                 {"type": "auth.bearer", "tokens": {"ci": "\(hash)"}},
                 {"type": "terraform.registry", "providers": "org",
                  "signingKeys": ["\(Paths.root)/examples/registry/keys/acme-signing.asc"],
                  "mirrorHostnames": ["registry.acme.test"]},
                 {"type": "cache", "memory": "64MiB"},
                 {"type": "upstream"}]}}}
            """, directory: certificates.directory)
        return World(fixtures: fixtures, standIn: standIn, gateway: gateway, certificates: certificates,
                     zips: assets.keys.filter { $0.hasSuffix(".zip") }.sorted())
    }

    static func mirrorDocument(_ world: World) -> String {
        let url = world.gateway.url("https", "/v1/mirror/registry.acme.test/acme/hello/1.0.0.json", scheme: "https", host: "localhost")
        return Tool.curl(["--cacert", world.certificates.ca, "-H", "Authorization: Bearer \(token)", url]).output
    }

    static func h1Count(_ document: String) -> Int { document.components(separatedBy: "\"h1:").count - 1 }

    /// The mirror document once every platform has its h1: (hashed in the background).
    static func mirrorWithEveryH1(_ world: World) -> String {
        var document = ""
        for _ in 0..<150 {
            document = mirrorDocument(world)
            if h1Count(document) == world.zips.count { break }
            usleep(100_000)
        }
        return document
    }

    static func servedCounts(_ world: World) async throws -> [String: Int] {
        let counters = try await world.standIn.counters()
        return Dictionary(uniqueKeysWithValues: world.zips.map { ($0, counters["objects.served.\($0)"] ?? 0) })
    }

    @Test("each provider zip is fetched from GitHub once, for the mirror's h1: and the clients' downloads, and survives a reload's h1:")
    func fetchedOnce() async throws {
        let world = try Self.world()
        // [terraform.registry, cache, upstream] is a valid position: no config warning at all.
        #expect(!world.gateway.stderr.contains("\"msg\":\"config\""), "\(world.gateway.stderr)")
        let check = Tool.run(Paths.gateway, ["check", world.gateway.configPath])
        #expect(check.status == 0 && !check.output.contains("warning") && !check.stderr.contains("warning"), "\(check.output)\(check.stderr)")
        // A registry install downloads this platform's zip through the cache (a miss that fills it).
        let registry = TerraformRunner(caFile: world.certificates.ca, cliConfig: """
            credentials "localhost:\(world.port)" { token = "\(Self.token)" }
            """)
        registry.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "localhost:\(world.port)/acme/hello" }
              }
            }
            """)
        let first = registry.initialize()
        #expect(first.status == 0, "terraform init failed:\n\(first.output)\n\(first.stderr)")

        // The mirror hashes every platform's zip in the background, down the chain: the zip the
        // registry install fetched comes from the cache, the others from GitHub, once each.
        let document = Self.mirrorWithEveryH1(world)
        #expect(Self.h1Count(document) == world.zips.count, "\(document)")
        #expect(document.contains("h1:zs0Y+eo+kLdq5h9v2mQFMI889yjLsenJ2Dh6LiyMKu8="), "\(document)")

        // A network-mirror install takes its zip from the cache. (The provider's hostname must be a
        // plain name for Terraform to build mirror URLs from it: the mirror serves it by mirrorHostnames.)
        let mirror = TerraformRunner(caFile: world.certificates.ca, cliConfig: """
            credentials "localhost:\(world.port)" { token = "\(Self.token)" }
            provider_installation {
              network_mirror { url = "https://localhost:\(world.port)/v1/mirror/" }
            }
            """)
        mirror.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "registry.acme.test/acme/hello" }
              }
            }
            """)
        let second = mirror.initialize()
        #expect(second.status == 0, "terraform init through the mirror failed:\n\(second.output)\n\(second.stderr)")
        #expect(mirror.lockedHashes("registry.acme.test/acme/hello").contains("h1:zs0Y+eo+kLdq5h9v2mQFMI889yjLsenJ2Dh6LiyMKu8="))
        let downloads = world.gateway.accessLog.filter {
            ($0["path"] as? String)?.hasSuffix("_linux_amd64.zip") == true && ($0["status"] as? Int) == 200
        }
        #expect(downloads.count == 2, "\(downloads)")
        #expect(downloads.last?["cache"] as? String == "HIT", "\(downloads)")

        let served = try await Self.servedCounts(world)
        #expect(served.values.allSatisfy { $0 == 1 }, "each zip served by GitHub's objects host once: \(served)")

        // h1: values are kept by the zip's digest for the life of the process: after a reload (a new
        // registry and a new, empty cache) the first answer carries them, and nothing is fetched.
        world.gateway.signal(SIGHUP)
        #expect(world.gateway.waitForLog("\"msg\":\"reloaded\""))
        try await world.standIn.resetCounters()
        let reloaded = Self.mirrorDocument(world)
        #expect(Self.h1Count(reloaded) == world.zips.count, "\(reloaded)")
        #expect(try await Self.servedCounts(world).values.allSatisfy { $0 == 0 })
    }

    @Test("a zip whose download fails is tried once, not again by every mirror request that follows")
    func failureRemembered() async throws {
        let world = try Self.world()
        // The provider's metadata (SHA256SUMS, manifest) is read while the objects host still answers.
        let versions = Tool.curl(["--cacert", world.certificates.ca, "-H", "Authorization: Bearer \(Self.token)",
                                  world.gateway.url("https", "/v1/providers/acme/hello/versions", scheme: "https", host: "localhost")])
        #expect(versions.output.contains("\"1.0.0\""), "\(versions.output)")
        try await world.standIn.knobs(["serverErrors": ["status": 502, "count": 1000, "on": "objects"]])

        let first = Self.mirrorDocument(world)
        #expect(first.contains("\"zh:"), "\(first)")
        // Each zip is tried once in the background, and fails.
        var failures = 0
        for _ in 0..<100 {
            failures = try await world.standIn.counter("objects.serverErrors")
            if failures >= world.zips.count { break }
            usleep(50_000)
        }
        #expect(failures == world.zips.count)
        usleep(300_000)
        for _ in 0..<5 {
            let document = Self.mirrorDocument(world)
            #expect(document.contains("\"zh:") && Self.h1Count(document) == 0, "\(document)")
            usleep(200_000)
        }
        #expect(try await world.standIn.counter("objects.serverErrors") == world.zips.count,
                "the failed downloads were remembered, not retried by each mirror request")
    }
}
