import Foundation
import Pipeline
import Testing

extension APTEndToEnd {
    /// `apt.repository` over a `github` source: .deb assets of the stand-in's releases, read with
    /// Range requests, installed with the real apt-get (issue 12, runs 1, 3 and 7).
    @Suite("apt repository from github releases", .serialized)
    struct APTGitHubTests {
        static let hookSecret = "hook-secret-0123456789"

        final class World: @unchecked Sendable {
            let fixtures = GitHubFixtures()
            let work = TemporaryDirectory("apt-github")
            let certificates = TestCertificates()
            let key: OpenPGPSecretKey
            var standIn: StandInProcess!
            var gateway: GatewayProcess!
            let repo: FixtureRepository
            var keyring: String { work.file("keys/repository.gpg") }
            var assets: [String: [UInt8]] = [:]

            init() throws {
                key = try OpenPGPSecretKey.generate(userID: "Gateway tests <apt@example.com>", created: Date(timeIntervalSince1970: 1_700_000_000))
                work.write("keys/signing.asc", key.armored)
                work.write("keys/repository.gpg", Data(key.certificate.binary))
                repo = fixtures.repo("hello-deb")
                repo.commit(["README.md": "hello\n"])
                repo.tag("v1.0.0")
                repo.tag("v1.1.0")
                repo.release("v1.0.0", assets: ["hello_1.0-1_amd64.deb": deb("hello", "1.0-1", compression: "gzip")])
                repo.release("v1.1.0", assets: ["hello_1.1-1_amd64.deb": deb("hello", "1.1-1", compression: "xz"),
                                                "hello-doc_1.1-1_all.deb": deb("hello-doc", "1.1-1", architecture: "all", compression: "zstd"),
                                                "broken.deb": Array("not a package".utf8), "notes.txt": Array("notes".utf8)])
                standIn = try StandInProcess(fixtures: fixtures)
            }

            func deb(_ name: String, _ version: String, architecture: String = "amd64", compression: String) -> [UInt8] {
                let path = DebBuilder.build(name: name, version: version, architecture: architecture, compression: compression, into: work.file("built"))
                let bytes = Array(try! Data(contentsOf: URL(fileURLWithPath: path)))
                assets[URL(fileURLWithPath: path).lastPathComponent] = bytes
                return bytes
            }

            func start(freshFor: String = "1h") throws {
                gateway = try GatewayProcess(config: """
                    {"version": 1,
                     "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                                    "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}},
                                   {"name": "hooks", "listen": "127.0.0.2:0"}],
                     "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)", "freshFor": "\(freshFor)",
                                         "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                                 "privateKeyFile": "\(fixtures.appKeyPath)"}}},
                     "stacks": {
                       "hooks": {"match": {"pathPrefix": ["/hooks/"]}, "listeners": ["hooks"],
                                 "chain": [{"type": "log"}, {"type": "github.webhook", "source": "org", "secret": "\(hookSecret)"}]},
                       "apt": {"match": {"pathPrefix": ["/apt/"]}, "listeners": ["https"], "chain": [
                         {"type": "log"},
                         {"type": "apt.repository", "source": "org", "signingKeyFile": "\(work.file("keys/signing.asc"))",
                          "repositories": ["hello-deb"], "freshFor": "\(freshFor)", "cacheDirectory": "\(work.file("cache"))"},
                         {"type": "upstream"}]}},
                     "run": ["hooks", "apt"]}
                    """, directory: certificates.directory)
            }

            func client() -> APTClient {
                APTClient(uri: "https://localhost:\(gateway.port("https"))/apt/", keyring: keyring, caFile: certificates.ca)
            }
        }

        @Test("apt-get update and download from release assets; two versions listed; bytes equal the asset; control read by Range")
        func updateAndDownload() async throws {
            let world = try World()
            try world.start()
            let apt = world.client()
            let update = await apt.update()
            #expect(update.status == 0, "apt-get update failed:\n\(update.output)\n\(update.stderr)")
            #expect(APTClient.problems(update).isEmpty, "\(update.output)\n\(update.stderr)")
            let policy = await apt.run("apt-cache", ["policy", "hello"])
            #expect(policy.output.contains("1.0-1") && policy.output.contains("1.1-1"), "\(policy.output)")

            let download = await apt.run("apt-get", ["download", "hello=1.0-1", "hello-doc"])
            #expect(download.status == 0, "apt-get download failed:\n\(download.output)\n\(download.stderr)")
            let fetched = Array(try Data(contentsOf: URL(fileURLWithPath: apt.directory.file("download/hello_1.0-1_amd64.deb"))))
            #expect(fetched == world.assets["hello_1.0-1_amd64.deb"])

            // A second gateway on the same organisation serves the same InRelease, byte for byte (issue run 6).
            let first = world.gateway!
            try world.start()
            let inRelease = { (gateway: GatewayProcess) in
                await APTTool.curl(["--cacert", world.certificates.ca, gateway.url("https", "/apt/dists/stable/InRelease", scheme: "https", host: "localhost")]).stdout
            }
            let one = await inRelease(first), other = await inRelease(world.gateway)
            #expect(one == other)
            #expect(String(decoding: one, as: UTF8.self).contains("Date: "))
            world.gateway.stop()
            world.gateway = first

            // Each .deb's control data came from one Range request; the broken asset is named once in the log.
            let counters = try await world.standIn.counters()
            #expect(counters["objects.ranged"] == 4, "4 .deb assets read once: the second gateway shares the cacheDirectory: \(counters)")
            #expect(world.gateway.stderr.split(separator: "\n").filter { $0.contains("package left out") && $0.contains("broken.deb") }.count == 1,
                    "\(world.gateway.stderr)")
        }

        @Test("a restarted gateway reads no asset again (kept on disk); a webhook makes a new release visible at once")
        func restartAndWebhook() async throws {
            let world = try World()
            try world.start()
            let first = await world.client().update()
            #expect(first.status == 0, "\(first.output)\n\(first.stderr)")
            world.gateway.stop()
            try await world.standIn.resetCounters()

            try world.start()
            let apt = world.client()
            #expect(await apt.update().status == 0)
            #expect(try await world.standIn.counter("objects.ranged") == 0, "control data read again after a restart")

            // A new release, cached for an hour: only the webhook makes it visible.
            world.repo.tag("v1.2.0")
            world.repo.release("v1.2.0", assets: ["hello_1.2-1_amd64.deb": world.deb("hello", "1.2-1", compression: "gzip")])
            let delivery = try await world.standIn.deliver(
                to: world.gateway.url("hooks", "/hooks/github", host: "127.0.0.2"), secret: APTGitHubTests.hookSecret, event: "release",
                repository: "hello-deb", extra: JSONObject([("action", "published")]))
            #expect(delivery.status == 200, "\(delivery)")
            let update = await apt.update()
            #expect(update.status == 0, "\(update.output)\n\(update.stderr)")
            let policy = await apt.run("apt-cache", ["policy", "hello"])
            #expect(policy.output.contains("Candidate: 1.2-1"), "\(policy.output)")
            let download = await apt.run("apt-get", ["download", "hello"])
            #expect(download.status == 0, "\(download.output)\n\(download.stderr)")
            let fetched = Array(try Data(contentsOf: URL(fileURLWithPath: apt.directory.file("download/hello_1.2-1_amd64.deb"))))
            #expect(fetched == world.assets["hello_1.2-1_amd64.deb"])
        }

        @Test("branch mode: dists/ as gateway apt index wrote it on the apt-metadata branch; packages from the release assets")
        func branchMode() async throws {
            let world = try World()
            // What a project's CI does: index the built packages (no pool) and commit dists/ to the branch.
            let built = world.work.file("built")
            let index = await APTTool.run(Paths.gateway, ["apt", "index", built, "--out", world.work.file("metadata"), "--key", world.work.file("keys/signing.asc"),
                                                 "--no-pool"])
            #expect(index.status == 0, "\(index.stderr)")
            #expect(!FileManager.default.fileExists(atPath: world.work.file("metadata/pool")))
            let mainBranch = world.repo.git(["rev-parse", "--abbrev-ref", "HEAD"])
            world.repo.git(["checkout", "-q", "--orphan", "apt-metadata"])
            world.repo.git(["rm", "-rfq", "."])
            try FileManager.default.copyItem(atPath: world.work.file("metadata/dists"), toPath: world.repo.path + "/dists")
            world.repo.git(["add", "-A"])
            world.repo.git(["commit", "-qm", "apt metadata"])
            world.repo.git(["checkout", "-q", mainBranch])

            world.gateway = try GatewayProcess(config: """
                {"version": 1,
                 "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                                "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
                 "sources": {"org": {"type": "github", "owner": "\(world.fixtures.owner)", "api": "\(world.standIn.api)",
                                     "app": {"id": "\(world.fixtures.appID)", "installation": "\(world.fixtures.installation)",
                                             "privateKeyFile": "\(world.fixtures.appKeyPath)"}}},
                 "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                     {"type": "log"},
                     {"type": "apt.repository", "source": "org", "repositories": ["hello-deb"], "metadata": {"branch": "apt-metadata"}},
                     {"type": "upstream"}]}}}
                """, directory: world.certificates.directory)
            let apt = world.client()
            let update = await apt.update()
            #expect(update.status == 0 && APTClient.problems(update).isEmpty, "\(update.output)\n\(update.stderr)")
            let paths = world.gateway.accessLog.compactMap { $0["path"] as? String }
            #expect(paths.contains { $0.contains("/by-hash/SHA256/") }, "\(paths)")
            let download = await apt.run("apt-get", ["download", "hello=1.1-1", "hello-doc"])
            #expect(download.status == 0, "\(download.output)\n\(download.stderr)")
            let fetched = Array(try Data(contentsOf: URL(fileURLWithPath: apt.directory.file("download/hello_1.1-1_amd64.deb"))))
            #expect(fetched == world.assets["hello_1.1-1_amd64.deb"])
            #expect(try await world.standIn.counter("objects.ranged") == 0, "branch mode reads no asset to build anything")
        }

        @Test("200 .deb assets: the first build reads each once by Range; a rebuild with no change reads none and lists one page")
        func manyAssets() async throws {
            let world = try World()
            let many = world.fixtures.repo("many-debs")
            many.commit(["README.md": "many\n"])
            many.tag("v1.0.0")
            let bytes = world.deb("tool", "1.0-1", compression: "xz")
            many.release("v1.0.0", assets: Dictionary(uniqueKeysWithValues: (0..<200).map { ("tool-\($0)_1.0-1_amd64.deb", bytes) }))
            world.gateway = try GatewayProcess(config: """
                {"version": 1,
                 "listeners": [{"name": "http", "listen": "127.0.0.1:0"}],
                 "sources": {"org": {"type": "github", "owner": "\(world.fixtures.owner)", "api": "\(world.standIn.api)", "freshFor": "1s",
                                     "app": {"id": "\(world.fixtures.appID)", "installation": "\(world.fixtures.installation)",
                                             "privateKeyFile": "\(world.fixtures.appKeyPath)"}}},
                 "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                     {"type": "apt.repository", "source": "org", "signingKeyFile": "\(world.work.file("keys/signing.asc"))",
                      "repositories": ["many-debs"], "freshFor": "1s"},
                     {"type": "upstream"}]}}}
                """, directory: world.certificates.directory)
            let url = world.gateway.url("http", "/apt/dists/stable/main/binary-amd64/Packages")
            let first = await APTTool.curl(["-w", "\n%{http_code}", url], timeout: 300)
            #expect(first.output.hasSuffix("\n200") && first.output.contains("Package: tool\n"), "\(first.output)")
            let built = try await world.standIn.counters()
            #expect(built["objects.ranged"] == 200, "\(built)")
            print("apt: first build of 200 assets: \(built["api"] ?? 0) API calls (releases \(built["api.releases"] ?? 0), asset downloads \(built["api.asset"] ?? 0)), \(built["objects.ranged"] ?? 0) Range reads")

            try await world.standIn.resetCounters()
            try await Task.sleep(for: .milliseconds(2500))
            let second = await APTTool.curl(["-w", "\n%{http_code}", url])
            #expect(second.output == first.output)
            let rebuilt = try await world.standIn.counters()
            #expect(rebuilt["objects.ranged"] == nil && rebuilt["api.asset"] == nil, "\(rebuilt)")
            #expect((rebuilt["api.releases"] ?? 0) <= 1, "\(rebuilt)")
            print("apt: rebuild with no change: \(rebuilt["api"] ?? 0) API calls (releases \(rebuilt["api.releases"] ?? 0), \(rebuilt["api.notModified"] ?? 0) answered 304), \(rebuilt["objects.ranged"] ?? 0) Range reads")
        }
    }
}
