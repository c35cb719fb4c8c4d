import Foundation
import Testing

/// The catalog over a GitHub organisation (the stand-in): what a view costs in API calls.
@Suite("catalog over a github organisation", .serialized)
struct CatalogGitHubTests {
    @Test("the catalog rides the registry's caches: no asset or tag fetched again, repeated views cost no call")
    func apiCalls() async throws {
        let fixtures = GitHubFixtures()
        let vpc = fixtures.repo("terraform-aws-vpc", description: "A network for the example")
        for version in ["1.0.0", "1.1.0"] {
            vpc.commit(["main.tf": "output \"v\" {\n  value = \"\(version)\"\n}\n",
                        "README.md": "# VPC \(version)\n\n```hcl\nmodule \"vpc\" {}\n```\n\nSee [usage](docs/usage.md).\n",
                        "docs/usage.md": "usage\n"], message: "v\(version)")
            vpc.tag("v\(version)")
        }
        vpc.release("v1.1.0")
        try fixtures.repo("terraform-provider-hello").exampleProviderRelease()
        let standIn = try StandInProcess(fixtures: fixtures)
        let certificates = TestCertificates()
        let keys = "\(Paths.root)/examples/registry/keys/acme-signing.asc"
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)", "freshFor": "1h",
                                 "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                         "privateKeyFile": "\(fixtures.appKeyPath)"}}},
             "stacks": {
               "terraform": {"match": {"pathPrefix": ["/.well-known/terraform.json", "/v1/"]}, "chain": [
                 {"type": "log"},
                 {"type": "terraform.registry", "modules": "org", "providers": "org", "signingKeys": ["\(keys)"]},
                 {"type": "cache"},
                 {"type": "upstream"}]},
               "catalog": {"chain": [
                 {"type": "log"},
                 {"type": "catalog", "modules": "org", "providers": "org", "signingKeys": ["\(keys)"]},
                 {"type": "upstream"}]}},
             "run": ["terraform", "catalog"]}
            """, directory: certificates.directory)
        let base = "https://127.0.0.1:\(gateway.port("https"))"
        let owner = fixtures.owner
        func get(_ path: String) -> String {
            let result = Tool.curl(["-k", "-w", "\n%{http_code}", base + path])
            #expect(result.output.hasSuffix("\n200"), "\(path): \(result.output.suffix(200))")
            return result.output
        }

        // What Terraform's use of the registry spends: tags, releases, SHA256SUMS and manifest.
        _ = get("/v1/modules/\(owner)/vpc/aws/versions")
        _ = get("/v1/providers/\(owner)/hello/versions")
        let registry = try await standIn.counters()
        #expect((registry["api.asset"] ?? 0) >= 1, "\(registry)")

        // The first catalog views: the registry's answers are reused; only what the registry never
        // asks for (the repository list, READMEs, the module's releases for dates) is new.
        let home = get("/")
        #expect(home.contains(">\(owner)/vpc/aws</a>") && home.contains(">\(owner)/hello</a>"), "\(home)")
        #expect(home.contains("A network for the example"))
        let module = get("/modules/\(owner)/vpc/aws")
        #expect(module.contains("<h3>VPC 1.1.0</h3>") && module.contains("<pre lang=\"hcl\">"))
        #expect(module.contains("href=\"/modules/\(owner)/vpc/aws/1.1.0/files/docs/usage.md\""))
        #expect(module.contains("<td>20"), "the release's date")
        _ = get("/modules/\(owner)/vpc/aws/1.0.0")
        _ = get("/modules/\(owner)/vpc/aws/1.1.0/files/docs/usage.md")
        let provider = get("/providers/\(owner)/hello")
        #expect(provider.contains("linux_amd64") && provider.contains("D1F7A7A23B21E1D4"))
        let first = try await standIn.counters()
        #expect(first["api.asset"] == registry["api.asset"], "no SHA256SUMS or manifest fetched again: \(registry) then \(first)")
        #expect(first["api.tags"] == registry["api.tags"], "tags come from the source's cache: \(registry) then \(first)")
        #expect(first["objects.served"] == registry["objects.served"])
        let spent = (first["api"] ?? 0) - (registry["api"] ?? 0)
        #expect(spent <= 6, "repository list, two READMEs, one file, the module's releases (and a token): \(spent) calls: \(first)")

        // Opening the catalog again, page after page, costs nothing while the source's answers are fresh.
        for _ in 0..<3 {
            for path in ["/", "/?q=vpc", "/modules/", "/providers/", "/modules/\(owner)/vpc/aws", "/modules/\(owner)/vpc/aws/1.0.0",
                         "/providers/\(owner)/hello", "/providers/\(owner)/hello/1.0.0"] {
                _ = get(path)
            }
        }
        let again = try await standIn.counters()
        #expect(again["api"] == first["api"], "repeated views spent \((again["api"] ?? 0) - (first["api"] ?? 0)) calls: \(again)")
        #expect(again["objects.served"] == first["objects.served"])
    }

    @Test("modules of a monorepo are listed from its tags, each with the README of its folder")
    func monorepo() throws {
        let fixtures = GitHubFixtures()
        let infra = fixtures.repo("infra", description: "Every module in one place")
        infra.commit(["vpc/aws/main.tf": "output \"v\" {\n  value = 1\n}\n", "vpc/aws/README.md": "# The VPC module\n",
                      "dns/gcp/main.tf": "output \"v\" {\n  value = 1\n}\n", "dns/gcp/README.md": "# The DNS module\n"])
        infra.tag("vpc/aws/v1.0.0")
        infra.tag("vpc/aws/v1.1.0")
        infra.tag("dns/gcp/v0.3.0")
        infra.tag("release-2024")
        let standIn = try StandInProcess(fixtures: fixtures)
        let certificates = TestCertificates()
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)", "freshFor": "1h",
                                 "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                         "privateKeyFile": "\(fixtures.appKeyPath)"}}},
             "stacks": {
               "terraform": {"match": {"pathPrefix": ["/v1/"]}, "chain": [
                 {"type": "terraform.registry", "modules": "org", "monorepos": [{"repository": "infra"}]},
                 {"type": "upstream"}]},
               "catalog": {"chain": [
                 {"type": "catalog", "modules": "org", "monorepos": [{"repository": "infra"}]},
                 {"type": "upstream"}]}},
             "run": ["terraform", "catalog"]}
            """, directory: certificates.directory)
        let base = "https://127.0.0.1:\(gateway.port("https"))"
        let owner = fixtures.owner
        let home = Tool.curl(["-k", base + "/"]).output
        #expect(home.contains(">\(owner)/vpc/aws</a> <span class=\"detail\">1.1.0</span>"), "\(home)")
        #expect(home.contains(">\(owner)/dns/gcp</a> <span class=\"detail\">0.3.0</span>"), "\(home)")
        #expect(home.contains("<strong>2</strong> modules"), "the tag outside the pattern is no module")
        #expect(!home.contains("terraform-"))
        let vpc = Tool.curl(["-k", base + "/modules/\(owner)/vpc/aws"]).output
        #expect(vpc.contains("<h3>The VPC module</h3>"), "the README of the module's folder: \(vpc)")
        #expect(Tool.curl(["-k", base + "/modules/\(owner)/dns/gcp/0.3.0"]).output.contains("<h3>The DNS module</h3>"))
    }
}
