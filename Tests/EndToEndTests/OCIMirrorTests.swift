import Foundation
import Middlewares
import Pipeline
import Testing

/// Terraform 1.0.3 installing providers kept in a real docker-registry through `oci.mirror`.
@Suite("OCI provider mirror", .serialized)
struct OCIMirrorTests {
    /// The gateway with the OCI mirror on /mirror/ and, for comparison, the directory-source
    /// registry (and its mirror) on /v1/.
    static func startGateway(registry: OCIRegistryProcess, sourceExtra: String = "") throws -> (GatewayProcess, TestCertificates) {
        let certificates = TestCertificates()
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"examples": {"type": "directory", "path": "\(Paths.root)/examples/registry"},
                         "oci": {"type": "oci", "url": "\(registry.url)",
                                 "repository": "terraform-providers/${hostname}/${namespace}/${type}"\(sourceExtra)}},
             "stacks": {
               "oci": {"match": {"pathPrefix": ["/mirror/"]}, "chain": [
                 {"type": "log"},
                 {"type": "oci.mirror", "source": "oci"},
                 {"type": "cache"},
                 {"type": "upstream"}]},
               "terraform": {"chain": [
                 {"type": "log"},
                 {"type": "terraform.registry", "modules": "examples", "providers": "examples",
                  "signingKeys": ["\(Paths.root)/examples/registry/keys/acme-signing.asc"],
                  "mirrorHostnames": ["registry.acme.test"]},
                 {"type": "upstream"}]}}}
            """, directory: certificates.directory)
        return (gateway, certificates)
    }

    static let repository = "terraform-providers/registry.acme.test/acme/hello"

    @Test("terraform installs from the OCI-backed mirror with the hashes the directory mirror gives")
    func terraformInstalls() async throws {
        let registry = try OCIRegistryProcess()
        let report = try await ExampleProvider.push(registry, repository: Self.repository)
        #expect(report.uploadedBlobs == 4)
        let (gateway, certificates) = try Self.startGateway(registry: registry)
        let port = gateway.port("https")

        // Both hashes for every platform, equal to what the directory-source mirror says of the same zips.
        let base = "https://localhost:\(port)"
        let oci = archiveHashes(fetchJSON(base + "/mirror/registry.acme.test/acme/hello/1.0.0.json", ca: certificates.ca))
        let directory = archiveHashes(fetchJSON(base + "/v1/mirror/registry.acme.test/acme/hello/1.0.0.json", ca: certificates.ca))
        #expect(oci.keys.sorted() == ["darwin_arm64", "linux_amd64", "linux_arm64"])
        #expect(oci == directory, "oci \(oci) directory \(directory)")
        #expect(oci.values.allSatisfy { $0.count == 2 && $0[0].hasPrefix("h1:") && $0[1].hasPrefix("zh:") })

        let terraform = TerraformRunner(caFile: certificates.ca, cliConfig: """
            provider_installation {
              network_mirror { url = "https://localhost:\(port)/mirror/" }
            }
            """)
        terraform.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "registry.acme.test/acme/hello" }
              }
            }
            """)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(result.output.contains("Installed registry.acme.test/acme/hello v1.0.0 (verified checksum)"))
        let locked = terraform.lockedHashes("registry.acme.test/acme/hello")
        #expect(!locked.isEmpty)
        #expect(locked.allSatisfy { hash in oci["linux_amd64"]?.contains(hash) == true }, "lock \(locked) vs \(oci)")
        // terraform providers lock hashes every platform's zip itself: the mirror's h1: values are its own.
        let locker = TerraformRunner(caFile: certificates.ca)
        locker.write("main.tf", terraform.file("main.tf") ?? "")
        let lock = Tool.run(TerraformRunner.binary ?? "terraform",
                            ["providers", "lock", "-no-color", "-net-mirror=https://localhost:\(port)/mirror/",
                             "-platform=linux_amd64", "-platform=linux_arm64", "-platform=darwin_arm64"],
                            environment: ["SSL_CERT_FILE": certificates.ca, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1",
                                          "HOME": locker.directory.path],
                            directory: locker.directory.path, timeout: 180)
        #expect(lock.status == 0, "providers lock failed:\n\(lock.output)\n\(lock.stderr)")
        let lockedH1 = Set(locker.lockedHashes("registry.acme.test/acme/hello"))
        #expect(lockedH1.count == 3 && lockedH1 == Set(oci.values.compactMap { $0.first }), "\(lockedH1) vs \(oci)")
        let log = gateway.accessLog
        #expect(log.contains { ($0["path"] as? String)?.hasSuffix("/1.0.0/terraform-provider-hello_1.0.0_linux_amd64.zip") == true
            && ($0["status"] as? Int) == 200 })
    }

    @Test("providers.v1 from the OCI store: terraform installs the signed provider pushed by gateway oci push")
    func providersV1() throws {
        let registry = try OCIRegistryProcess()
        let pushed = OCISourceTests.cliPush(registry)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let certificates = TestCertificates()
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"oci": {"type": "oci", "url": "\(registry.url)", "providersHostname": "registry.acme.test",
                                 "repository": "terraform-providers/${hostname}/${namespace}/${type}"}},
             "stacks": {"terraform": {"chain": [
                {"type": "log"},
                {"type": "terraform.registry", "providers": "oci", "signingKeys": ["\(ExampleProvider.key)"]},
                {"type": "cache"},
                {"type": "upstream"}]}}}
            """, directory: certificates.directory)
        let port = gateway.port("https")
        let terraform = TerraformRunner(caFile: certificates.ca)
        terraform.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "localhost:\(port)/acme/hello" }
              }
            }
            """)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(result.output.contains("Installed localhost:\(port)/acme/hello v1.0.0 (self-signed"), "\(result.output)")
        // A signed install records zh: for every SHA256SUMS line (3 zips and the manifest) plus the local h1:.
        let hashes = terraform.lockedHashes("localhost:\(port)/acme/hello")
        #expect(hashes.filter { $0.hasPrefix("zh:") }.count == 4)
        #expect(hashes.filter { $0.hasPrefix("h1:") }.count == 1)
    }

    @Test("behind auth.bearer: index and version documents need the token, archives come through signed URLs")
    func behindAuth() async throws {
        let registry = try OCIRegistryProcess()
        _ = try await ExampleProvider.push(registry, repository: Self.repository)
        let token = "mirror-test-token-0123456789abcdef0123"
        let hash = Tool.run(Paths.gateway, ["hash-password", "--token"], input: Data((token + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let certificates = TestCertificates()
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "signedURLs": {"keys": [{"id": "k1", "secret": "0123456789abcdef0123456789abcdef-test"}], "ttl": "5m"},
             "sources": {"oci": {"type": "oci", "url": "\(registry.url)",
                                 "repository": "terraform-providers/${hostname}/${namespace}/${type}"}},
             "stacks": {"oci": {"chain": [
                 {"type": "log"},
                 {"type": "auth.bearer", "tokens": {"ci": "\(hash)"}},
                 {"type": "oci.mirror", "source": "oci"},
                 {"type": "upstream"}]}}}
            """, directory: certificates.directory)
        let port = gateway.port("https")
        let anonymous = Tool.curl(["--cacert", certificates.ca, "-o", "/dev/null", "-w", "%{http_code}",
                                   "https://localhost:\(port)/mirror/registry.acme.test/acme/hello/index.json"])
        #expect(anonymous.output == "401")
        let terraform = TerraformRunner(caFile: certificates.ca, cliConfig: """
            credentials "localhost:\(port)" { token = "\(token)" }
            provider_installation {
              network_mirror { url = "https://localhost:\(port)/mirror/" }
            }
            """)
        terraform.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "registry.acme.test/acme/hello" }
              }
            }
            """)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        let downloads = gateway.accessLog.filter { ($0["path"] as? String ?? "").hasSuffix(".zip") }
        #expect(!downloads.isEmpty)
        #expect(downloads.allSatisfy { ($0["status"] as? Int) == 200 && ($0["auth"] as? String) == "signed-url" }, "\(downloads)")
    }

    @Test("unknown and unmappable providers answer 404 in the registry's error shape")
    func notFound() async throws {
        let registry = try OCIRegistryProcess()
        _ = try await ExampleProvider.push(registry, repository: Self.repository)
        let (gateway, certificates) = try Self.startGateway(registry: registry)
        for path in ["/mirror/registry.acme.test/acme/nope/index.json", "/mirror/registry.acme.test/acme/hello/9.9.9.json",
                     "/mirror/Registry.acme.test/ACME/he__llo--/index.json", "/mirror/registry.acme.test/acme/hello/1.0.0/x.zip"] {
            let result = Tool.curl(["--cacert", certificates.ca, "-w", "\n%{http_code} %{content_type}",
                                    gateway.url("https", path, scheme: "https", host: "localhost")])
            let lines = result.output.split(separator: "\n")
            #expect(lines.last == "404 application/json", "\(path): \(result.output)")
            #expect(lines.first?.hasPrefix("{\"errors\":[") == true, "\(path): \(result.output)")
        }
    }
}
