import Foundation
import Testing

/// Terraform 1.0.3 against the registry served from a directory source (the embedded example).
@Suite("terraform registry from a directory source", .serialized)
struct TerraformDirectoryTests {
    /// The README's configuration: the example registry on a TLS listener.
    static func startGateway() throws -> (GatewayProcess, TestCertificates) {
        let certificates = TestCertificates()
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"examples": {"type": "directory", "path": "\(Paths.root)/examples/registry"}},
             "stacks": {"terraform": {"chain": [
                {"type": "log"},
                {"type": "terraform.registry", "modules": "examples", "providers": "examples",
                 "signingKeys": ["\(Paths.root)/examples/registry/keys/acme-signing.asc"],
                 "mirrorHostnames": ["registry.acme.test"]},
                {"type": "upstream"}]}}}
            """, directory: certificates.directory)
        return (gateway, certificates)
    }

    @Test("the README example installs the module at its root and the signed provider")
    func readmeExample() throws {
        let (gateway, certificates) = try Self.startGateway()
        let port = gateway.port("https")
        let terraform = TerraformRunner(caFile: certificates.ca)
        // As in the README, with the test's port: modules need a dotted host (Terraform 1.0.3 reads
        // a dot-less first part as a namespace), so the module uses 127.0.0.1.
        terraform.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "localhost:\(port)/acme/hello" }
              }
            }
            module "vpc" {
              source  = "127.0.0.1:\(port)/acme/vpc/aws"
              version = "~> 1.1.0"
            }
            """)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(result.output.contains("Installed localhost:\(port)/acme/hello v1.0.0 (self-signed"))
        // ~> 1.1.0 picks 1.1.0 (not 1.2.0), and main.tf sits at the module root, not one level down.
        let module = terraform.file(".terraform/modules/vpc/main.tf")
        #expect(module?.contains("value = \"1.1.0\"") == true)
        // A signed registry install records zh: for every SHA256SUMS line plus the local h1:.
        let hashes = terraform.lockedHashes("localhost:\(port)/acme/hello")
        #expect(hashes.filter { $0.hasPrefix("zh:") }.count == 4)
        #expect(hashes.filter { $0.hasPrefix("h1:") }.count == 1)
        let log = gateway.accessLog
        #expect(log.contains { ($0["path"] as? String)?.hasSuffix("/download") == true && ($0["status"] as? Int) == 204 })
    }

    @Test("the network mirror installs the same provider with the same h1 as the registry")
    func mirrorMatchesRegistry() throws {
        let (gateway, certificates) = try Self.startGateway()
        let port = gateway.port("https")
        let registry = TerraformRunner(caFile: certificates.ca)
        registry.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "localhost:\(port)/acme/hello" }
              }
            }
            """)
        let first = registry.initialize()
        #expect(first.status == 0, "registry install failed:\n\(first.output)\n\(first.stderr)")
        let registryH1 = registry.lockedHashes("localhost:\(port)/acme/hello").filter { $0.hasPrefix("h1:") }

        let mirror = TerraformRunner(caFile: certificates.ca, cliConfig: """
            provider_installation {
              network_mirror { url = "https://localhost:\(port)/v1/mirror/" }
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
        #expect(second.status == 0, "mirror install failed:\n\(second.output)\n\(second.stderr)")
        #expect(second.output.contains("(verified checksum)"))
        let mirrorH1 = mirror.lockedHashes("registry.acme.test/acme/hello").filter { $0.hasPrefix("h1:") }
        #expect(!registryH1.isEmpty)
        #expect(mirrorH1 == registryH1)
        #expect(gateway.accessLog.contains { ($0["path"] as? String)?.contains("/v1/mirror/registry.acme.test/acme/hello/index.json") == true })
    }

    @Test("unknown modules and versions answer 404 with an errors document")
    func notFound() throws {
        let (gateway, certificates) = try Self.startGateway()
        for path in ["/v1/modules/acme/nope/aws/versions", "/v1/modules/acme/vpc/aws/9.9.9/download",
                     "/v1/providers/acme/nope/versions", "/v1/mirror/registry.terraform.io/acme/hello/index.json"] {
            let result = Tool.curl(["--cacert", certificates.ca, "-w", "\n%{http_code} %{content_type}",
                                    gateway.url("https", path, scheme: "https", host: "localhost")])
            let lines = result.output.split(separator: "\n")
            #expect(lines.last == "404 application/json", "\(path): \(result.output)")
            #expect(lines.first?.hasPrefix("{\"errors\":[") == true, "\(path): \(result.output)")
        }
    }
}

@Suite("private terraform registry with auth and signed URLs", .serialized)
struct TerraformPrivateRegistryTests {
    static let token = "tfc-test-token-0123456789abcdef0123456789"

    static func startGateway() throws -> (GatewayProcess, TestCertificates) {
        let certificates = TestCertificates()
        let hash = Tool.run(Paths.gateway, ["hash-password", "--token"], input: Data((token + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("sha256:"))
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "signedURLs": {"keys": [{"id": "k1", "secret": "0123456789abcdef0123456789abcdef-test"}], "ttl": "5m"},
             "sources": {"examples": {"type": "directory", "path": "\(Paths.root)/examples/registry"}},
             "stacks": {"terraform": {"chain": [
                {"type": "log"},
                {"type": "auth.bearer", "tokens": {"ci": "\(hash)"}},
                {"type": "terraform.registry", "modules": "examples", "providers": "examples",
                 "signingKeys": ["\(Paths.root)/examples/registry/keys/acme-signing.asc"]},
                {"type": "upstream"}]}}}
            """, directory: certificates.directory)
        return (gateway, certificates)
    }

    static func mainTF(port: Int) -> String {
        """
        terraform {
          required_providers {
            hello = { source = "localhost:\(port)/acme/hello" }
          }
        }
        module "vpc" {
          source  = "127.0.0.1:\(port)/acme/vpc/aws"
          version = "1.2.0"
        }
        """
    }

    @Test("a credentials block installs; archives and provider files come through signed URLs")
    func withCredentials() throws {
        let (gateway, certificates) = try Self.startGateway()
        let port = gateway.port("https")
        let terraform = TerraformRunner(caFile: certificates.ca, cliConfig: """
            credentials "127.0.0.1:\(port)" { token = "\(Self.token)" }
            credentials "localhost:\(port)" { token = "\(Self.token)" }
            """)
        terraform.write("main.tf", Self.mainTF(port: port))
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(terraform.file(".terraform/modules/vpc/main.tf")?.contains("\"1.2.0\"") == true)
        // Terraform sent no credentials for the downloads: the log shows them accepted by signature.
        let downloads = gateway.accessLog.filter {
            let path = $0["path"] as? String ?? ""
            return path.contains("/archive/") || path.contains("/files/")
        }
        #expect(!downloads.isEmpty)
        #expect(downloads.allSatisfy { ($0["status"] as? Int) == 200 && ($0["auth"] as? String) == "signed-url" },
                "\(downloads)")
    }

    @Test("without credentials terraform init fails with the gateway's 401")
    func withoutCredentials() throws {
        let (gateway, certificates) = try Self.startGateway()
        let terraform = TerraformRunner(caFile: certificates.ca)
        terraform.write("main.tf", Self.mainTF(port: gateway.port("https")))
        let result = terraform.initialize()
        #expect(result.status != 0)
        #expect((result.output + result.stderr).contains("401"), "\(result.output)\n\(result.stderr)")
        // Discovery itself stays open, even to a client with no or stale credentials.
        let discovery = Tool.curl(["--cacert", certificates.ca, "-H", "Authorization: Bearer stale", "-w", "%{http_code}", "-o", "/dev/null",
                                   gateway.url("https", "/.well-known/terraform.json", scheme: "https", host: "localhost")])
        #expect(discovery.output == "200")
    }

    @Test("an archive URL works only as signed: unsigned, edited or moved it is refused")
    func archiveNeedsSignature() throws {
        let (gateway, certificates) = try Self.startGateway()
        let base = gateway.url("https", "", scheme: "https", host: "localhost")
        let download = Tool.curl(["--cacert", certificates.ca, "-H", "Authorization: Bearer \(Self.token)", "-D", "-", "-o", "/dev/null",
                                  base + "/v1/modules/acme/vpc/aws/1.2.0/download"])
        let location = download.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-terraform-get:") }
            .map { String($0.dropFirst("x-terraform-get:".count)).trimmingCharacters(in: .whitespaces) }
        let signed = try #require(location)
        #expect(signed.contains("gw-signature="))
        func status(_ url: String) -> String {
            Tool.curl(["--cacert", certificates.ca, "-o", "/dev/null", "-w", "%{http_code}", url]).output
        }
        #expect(status(signed) == "200")
        let unsigned = String(signed.prefix { $0 != "?" })
        #expect(status(unsigned) == "401")
        #expect(status(signed.replacingOccurrences(of: "1.2.0/archive", with: "1.1.0/archive")) == "401")
        let tampered = signed.replacingOccurrences(of: "gw-expires=", with: "gw-expires=9")
        #expect(status(tampered) == "401")
    }
}
