import Foundation
import Testing

/// The catalog's OCI mirror section over a real docker-registry holding the example provider.
@Suite("catalog of the OCI mirror", .serialized)
struct CatalogOCITests {
    @Test("the catalog shows which providers and versions the OCI store holds, and a .terraformrc that installs one")
    func mirror() async throws {
        let registry = try OCIRegistryProcess()
        _ = try await ExampleProvider.push(registry, repository: "terraform-providers/registry.acme.test/acme/hello")
        let certificates = TestCertificates()
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"oci": {"type": "oci", "url": "\(registry.url)", "repository": "terraform-providers/${hostname}/${namespace}/${type}"}},
             "stacks": {
               "oci": {"match": {"pathPrefix": ["/mirror/"]}, "chain": [{"type": "oci.mirror", "source": "oci"}, {"type": "cache"}, {"type": "upstream"}]},
               "catalog": {"chain": [
                 {"type": "catalog", "ociMirror": {"source": "oci", "providers": ["registry.acme.test/acme/hello", "registry.acme.test/acme/absent"]}},
                 {"type": "respond", "status": 404}]}},
             "run": ["oci", "catalog"]}
            """, directory: certificates.directory)
        let port = gateway.port("https")
        let home = Browser.load("https://localhost:\(port)/")
        #expect(home.dom.contains(">registry.acme.test/acme/hello</a> <span class=\"detail\">1.0.0</span>"), "\(home.dom)")
        #expect(home.dom.contains("<strong>1</strong> mirrored provider"), "a provider the store does not hold is not listed")
        #expect(home.console.isEmpty, "\(home.console)")
        let page = Browser.load("https://localhost:\(port)/oci/registry.acme.test/acme/hello")
        #expect(page.dom.contains("<th scope=\"row\">1.0.0</th>"), "\(page.dom)")
        guard let start = page.dom.range(of: "<pre id=\"mirror\""), let code = page.dom[start.upperBound...].range(of: "<code>"),
              let end = page.dom[code.upperBound...].range(of: "</code>") else {
            Issue.record("no mirror block")
            return
        }
        let terraformrc = String(page.dom[code.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
        #expect(terraformrc.contains("url     = \"https://localhost:\(port)/mirror/\""), "\(terraformrc)")

        // The .terraformrc as copied: terraform installs the provider from the OCI store through the mirror.
        let terraform = TerraformRunner(caFile: certificates.ca, cliConfig: terraformrc)
        terraform.write("main.tf", """
            terraform {
              required_providers {
                hello = { source = "registry.acme.test/acme/hello" }
              }
            }
            """)
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(result.output.contains("Installed registry.acme.test/acme/hello v1.0.0"), "\(result.output)")
    }
}
