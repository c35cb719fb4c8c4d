import Foundation
import Pipeline
import Testing

/// Terraform 1.0.3 against a registry whose modules are tags of repositories and whose providers
/// are GitHub Releases, served by the GitHub API stand-in (issue 7, runs 1, 2, 3 and 5).
@Suite("terraform registry from a github organisation", .serialized)
struct TerraformGitHubTests {
    static let token = "tf-github-token-0123456789abcdef0123456789"
    static let hookSecret = "hook-secret-0123456789"

    /// The stand-in with an organisation holding a public module, a private one and a provider.
    struct World {
        let fixtures: GitHubFixtures
        let standIn: StandInProcess
        let gateway: GatewayProcess
        let certificates: TestCertificates
        let vpc: FixtureRepository
        var port: Int { gateway.port("https") }
    }

    static func module(_ version: String) -> [String: String] {
        ["main.tf": "output \"module_version\" {\n  value = \"\(version)\"\n}\n", "README.md": "vpc \(version)\n"]
    }

    static func world() throws -> World {
        let fixtures = GitHubFixtures()
        let vpc = fixtures.repo("terraform-aws-vpc", topics: ["terraform-module"])
        for version in ["1.1.0", "1.2.0", "1.2.3", "1.3.0", "2.0.0"] {
            vpc.commit(module(version), message: "v\(version)")
            vpc.tag("v\(version)")
        }
        let secret = fixtures.repo("terraform-aws-secret", private: true)
        secret.commit(["main.tf": "output \"secret\" {\n  value = \"private 1.0.0\"\n}\n"])
        secret.tag("v1.0.0")
        try fixtures.repo("terraform-provider-hello").exampleProviderRelease()
        let standIn = try StandInProcess(fixtures: fixtures)
        let certificates = TestCertificates()
        let hash = Tool.run(Paths.gateway, ["hash-password", "--token"], input: Data((token + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}},
                           {"name": "hooks", "listen": "127.0.0.2:0"}],
             "signedURLs": {"keys": [{"id": "k1", "secret": "0123456789abcdef0123456789abcdef-gh"}]},
             "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)", "freshFor": "1h",
                                 "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                         "privateKeyFile": "\(fixtures.appKeyPath)"}}},
             "stacks": {
               "hooks": {"match": {"pathPrefix": ["/hooks/"]}, "listeners": ["hooks"],
                         "chain": [{"type": "log"}, {"type": "github.webhook", "source": "org", "secret": "\(hookSecret)"}]},
               "terraform": {"chain": [
                 {"type": "log"},
                 {"type": "auth.bearer", "tokens": {"ci": "\(hash)"}},
                 {"type": "terraform.registry", "modules": "org", "providers": "org",
                  "signingKeys": ["\(Paths.root)/examples/registry/keys/acme-signing.asc"]},
                 {"type": "upstream"}]}},
             "run": ["hooks", "terraform"]}
            """, directory: certificates.directory)
        return World(fixtures: fixtures, standIn: standIn, gateway: gateway, certificates: certificates, vpc: vpc)
    }

    static func runner(_ world: World, credentials: Bool = true) -> TerraformRunner {
        TerraformRunner(caFile: world.certificates.ca, cliConfig: credentials ? """
            credentials "127.0.0.1:\(world.port)" { token = "\(token)" }
            credentials "localhost:\(world.port)" { token = "\(token)" }
            """ : nil)
    }

    static func vpcModule(_ world: World, version: String) -> String {
        """
        module "vpc" {
          source  = "127.0.0.1:\(world.port)/acme/vpc/aws"
          version = "\(version)"
        }
        """
    }

    @Test("~> 1.2 installs the highest 1.2.x from the repository's tags, with the files at the module root")
    func moduleFromTags() throws {
        let world = try Self.world()
        let terraform = Self.runner(world)
        terraform.write("main.tf", Self.vpcModule(world, version: "~> 1.2.0"))
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(terraform.file(".terraform/modules/vpc/main.tf")?.contains("\"1.2.3\"") == true)
        #expect(terraform.file(".terraform/modules/vpc/README.md") == "vpc 1.2.3\n")
        // The archive came from the stand-in's codeload host, re-rooted: nothing under owner-repo-sha/.
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: terraform.directory.file(".terraform/modules/vpc"))) ?? []
        #expect(!contents.contains { $0.hasPrefix("acme-terraform-aws-vpc-") }, "\(contents)")
    }

    @Test("a private repository's module installs with a credentials block and is refused without one")
    func privateModule() throws {
        let world = try Self.world()
        let mainTF = """
            module "secret" {
              source  = "127.0.0.1:\(world.port)/acme/secret/aws"
              version = "1.0.0"
            }
            """
        let anonymous = Self.runner(world, credentials: false)
        anonymous.write("main.tf", mainTF)
        let refused = anonymous.initialize()
        #expect(refused.status != 0)
        #expect((refused.output + refused.stderr).contains("401"), "\(refused.output)\n\(refused.stderr)")

        let terraform = Self.runner(world)
        terraform.write("main.tf", mainTF)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(terraform.file(".terraform/modules/secret/main.tf")?.contains("private 1.0.0") == true)
        let archives = world.gateway.accessLog.filter { ($0["path"] as? String)?.contains("/archive/") == true && ($0["status"] as? Int) == 200 }
        #expect(!archives.isEmpty)
        #expect(archives.allSatisfy { ($0["auth"] as? String) == "signed-url" }, "\(archives)")
    }

    @Test("a provider from GitHub Releases installs with its GPG-signed SHA256SUMS; the lock has every zh:")
    func providerFromReleases() throws {
        let world = try Self.world()
        let terraform = Self.runner(world)
        terraform.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "localhost:\(world.port)/acme/hello" }
              }
            }
            """)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(result.output.contains("Installed localhost:\(world.port)/acme/hello v1.0.0 (self-signed, key ID D1F7A7A23B21E1D4)"))
        let hashes = terraform.lockedHashes("localhost:\(world.port)/acme/hello")
        #expect(hashes.filter { $0.hasPrefix("zh:") }.count == 4)
        #expect(hashes.contains("h1:zs0Y+eo+kLdq5h9v2mQFMI889yjLsenJ2Dh6LiyMKu8="))
    }

    @Test("the mirror serves a GitHub release: zh: at once, and the zip's h1: once it has been hashed")
    func mirrorFromReleases() throws {
        let world = try Self.world()
        let url = world.gateway.url("https", "/v1/mirror/localhost:\(world.port)/acme/hello/1.0.0.json", scheme: "https", host: "localhost")
        var answer = ""
        // The first answer may carry only zh: (the zip is fetched and hashed in the background).
        for _ in 0..<100 {
            answer = Tool.curl(["--cacert", world.certificates.ca, "-H", "Authorization: Bearer \(Self.token)", url]).output
            if answer.contains("h1:zs0Y+eo+kLdq5h9v2mQFMI889yjLsenJ2Dh6LiyMKu8=") { break }
            usleep(100_000)
        }
        #expect(answer.contains("\"zh:88a2bb3b4002d2c1995e6970551f5a1d6b6ca06d5b69b9be098c03ce95c56f96\""), "\(answer)")
        #expect(answer.contains("h1:zs0Y+eo+kLdq5h9v2mQFMI889yjLsenJ2Dh6LiyMKu8="), "\(answer)")
        #expect(answer.contains("/files/terraform-provider-hello_1.0.0_linux_amd64.zip?gw-expires="))
    }

    @Test("a new tag announced by a signed webhook is installable by the next init, within the freshness interval")
    func webhookMakesNewTagVisible() async throws {
        let world = try Self.world()
        let first = Self.runner(world)
        first.write("main.tf", Self.vpcModule(world, version: "~> 1.2.0"))
        #expect(first.initialize().status == 0)
        #expect(first.file(".terraform/modules/vpc/main.tf")?.contains("\"1.2.3\"") == true)

        world.vpc.commit(Self.module("1.2.4"), message: "v1.2.4")
        world.vpc.tag("v1.2.4")
        // Cached for an hour (freshFor), so without the webhook the new tag stays invisible.
        let before = Tool.curl(["--cacert", world.certificates.ca, "-H", "Authorization: Bearer \(Self.token)",
                                world.gateway.url("https", "/v1/modules/acme/vpc/aws/versions", scheme: "https", host: "localhost")])
        #expect(!before.output.contains("1.2.4"))

        let delivery = try await world.standIn.deliver(
            to: world.gateway.url("hooks", "/hooks/github", host: "127.0.0.2"),
            secret: Self.hookSecret, event: "create", repository: "terraform-aws-vpc",
            extra: JSONObject([("ref", "v1.2.4"), ("ref_type", "tag")]))
        #expect(delivery.status == 200, "\(delivery)")

        let second = Self.runner(world)
        second.write("main.tf", Self.vpcModule(world, version: "~> 1.2.0"))
        let result = second.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(second.file(".terraform/modules/vpc/main.tf")?.contains("\"1.2.4\"") == true)
    }
}
