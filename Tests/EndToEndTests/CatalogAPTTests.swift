import Foundation
import Testing

/// The catalog's APT section (issue 18) in a real headless Chromium, and the lines it shows pasted
/// into a throwaway apt root: the real apt-get updates from the repository and fetches the package.
@Suite("catalog of an APT repository", .serialized)
struct CatalogAPTTests {
    static let password = "apt-catalog-password-0123"

    struct World {
        let gateway: GatewayProcess
        let certificates: TestCertificates
        let debs: TemporaryDirectory
        var port: Int { gateway.port("https") }
        func url(_ path: String, credentials: String? = nil) -> String {
            "https://\(credentials.map { $0 + "@" } ?? "")127.0.0.1:\(port)\(path)"
        }
    }

    /// The example packages plus two newer amd64 versions (1.10.0 sorts after 1.2.0~rc1 in
    /// Debian's order, not in a string's); one repository open at /apt/ and one behind basic auth
    /// at /private-apt/, with a catalog of each (the private one behind the same auth).
    static func world() throws -> World {
        let debs = TemporaryDirectory("catalog-debs")
        for name in try FileManager.default.contentsOfDirectory(atPath: Paths.root + "/examples/apt/debs") {
            try FileManager.default.copyItem(atPath: Paths.root + "/examples/apt/debs/" + name, toPath: debs.file(name))
        }
        DebBuilder.build(name: "hello-gateway", version: "1.10.0", into: debs.path, extraControl: "Installed-Size: 12")
        DebBuilder.build(name: "hello-gateway", version: "1.2.0~rc1", into: debs.path)
        let hash = Tool.run(Paths.gateway, ["hash-password"], input: Data((password + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let certificates = TestCertificates()
        let key = "\(Paths.root)/examples/apt/keys/dev-signing.asc"
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"debs": {"type": "directory", "path": "\(debs.path)"}},
             "middlewares": {"users": {"type": "auth.basic", "users": {"alice": "\(hash)"}, "realm": "packages"}},
             "stacks": {
               "apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                 {"type": "log"},
                 {"type": "apt.repository", "source": "debs", "signingKeyFile": "\(key)", "origin": "Acme Packages"},
                 {"type": "upstream"}]},
               "private-apt": {"match": {"pathPrefix": ["/private-apt/"]}, "chain": [
                 {"type": "log"}, "users",
                 {"type": "apt.repository", "source": "debs", "signingKeyFile": "\(key)"},
                 {"type": "upstream"}]},
               "private": {"match": {"pathPrefix": ["/private/"]}, "chain": [
                 {"type": "log"}, "users",
                 {"type": "catalog", "prefix": "/private/", "apt": "private-apt"},
                 {"type": "respond", "status": 404}]},
               "catalog": {"chain": [
                 {"type": "log"},
                 {"type": "catalog", "apt": "apt"},
                 {"type": "respond", "status": 404}]}},
             "run": ["apt", "private-apt", "private", "catalog"]}
            """, directory: certificates.directory)
        return World(gateway: gateway, certificates: certificates, debs: debs)
    }

    /// The text of the copyable block `id` of a page, as a person copies it.
    static func snippet(_ id: String, in dom: String) -> String? {
        guard let start = dom.range(of: "<pre id=\"\(id)\""), let code = dom[start.upperBound...].range(of: "<code>"),
              let end = dom[code.upperBound...].range(of: "</code>") else { return nil }
        return String(dom[code.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    @Test("the home page lists the packages, a search narrows it; a package page shows its versions in Debian's order; pages are valid and linked")
    func pages() throws {
        let world = try Self.world()
        let home = Browser.load(world.url("/"))
        #expect(home.dom.contains("<strong>2</strong> packages"), "\(home.dom)")
        #expect(home.dom.contains(">hello-gateway</a> <span class=\"detail\">1.10.0 · amd64, all</span>"), "\(home.dom)")
        #expect(home.dom.contains("<span class=\"muted\">documentation of hello-gateway (example)</span>"))
        #expect(!home.dom.contains("Terraform modules"), "a catalog of packages only has no Terraform section")
        #expect(home.console.isEmpty, "\(home.console)")

        let search = Browser.load(world.url("/?q=documentation"))
        #expect(search.dom.contains(">hello-gateway-doc</a>") && !search.dom.contains(">hello-gateway</a>"), "\(search.dom)")
        #expect(search.dom.contains("1 result for “documentation”"))
        let byArchitecture = Browser.load(world.url("/?q=amd64"))
        #expect(byArchitecture.dom.contains(">hello-gateway</a>") && !byArchitecture.dom.contains(">hello-gateway-doc</a>"))

        let page = Browser.load(world.url("/packages/hello-gateway"))
        #expect(page.dom.contains("<h1>hello-gateway</h1>"))
        #expect(page.dom.contains("Debian package · 1.10.0 · test package hello-gateway"), "\(page.dom)")
        #expect(page.dom.contains("<p>Long description for hello-gateway 1.10.0.</p><p>- a line starting with a dash</p>"), "\(page.dom)")
        let versions = ["1.10.0", "1.2.0~rc1", "1.1.0", "1.0.0"].map { page.dom.range(of: "/packages/hello-gateway/\($0)\"")?.lowerBound }
        #expect(versions.allSatisfy { $0 != nil } && zip(versions, versions.dropFirst()).allSatisfy { $0! < $1! },
                "versions newest first in Debian's order: \(page.dom)")
        #expect(page.dom.contains("<strong>1.10.0</strong></a></th><td>amd64</td>"), "the newest is selected")
        #expect(page.dom.contains("<dt>Installed size</dt><dd>12.0&nbsp;KiB</dd>"), "Installed-Size is in KiB")
        let older = Browser.load(world.url("/packages/hello-gateway/1.2.0~rc1"))
        #expect(older.dom.contains("Debian package · 1.2.0~rc1 (not the newest)"), "\(older.dom)")
        #expect(Self.snippet("install-version", in: older.dom) == "sudo apt-get install hello-gateway=1.2.0~rc1")
        #expect(Self.snippet("install-version", in: page.dom) == "sudo apt-get install hello-gateway=1.10.0")
        #expect(Self.snippet("sources", in: page.dom)?.contains("Signed-By: /etc/apt/keyrings/acme-packages.gpg") == true,
                "the keyring is named after the Origin")
        #expect(Self.snippet("auth", in: page.dom) == nil, "an open repository needs no credentials")
        #expect(page.console.isEmpty, "\(page.console)")
        #expect(Tool.curl(["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", world.url("/packages/no-such-package")]).output == "404")

        let folder = Browser.artifacts("catalog")
        let desktop = Browser.screenshot(world.url("/packages/hello-gateway"), width: 1280, height: 900, to: "\(folder)/package-desktop.png")
        let phone = Browser.screenshot(world.url("/packages/hello-gateway"), width: 390, height: 844, to: "\(folder)/package-phone.png")
        #expect(desktop > 20_000, "desktop screenshot is \(desktop) bytes")
        #expect(phone > 10_000, "phone screenshot is \(phone) bytes")

        let crawled = CatalogTests.crawl(base: world.url(""), start: "/", credentials: nil)
            + CatalogTests.crawl(base: world.url(""), start: "/private/", credentials: "alice:\(Self.password)")
        #expect(crawled.contains("/packages/hello-gateway") && crawled.contains("/packages/hello-gateway-doc")
                && crawled.contains("/private/packages/hello-gateway") && crawled.contains("/packages/hello-gateway/1.0.0"), "\(crawled)")
    }

    @Test("the key line, .sources stanza and auth.conf line copied from the page make apt-get update and install work")
    func copiedLines() async throws {
        let world = try Self.world()
        for (prefix, credentials) in [("/", nil), ("/private/", "alice:\(Self.password)")] as [(String, String?)] {
            let page = Browser.load(world.url(prefix + "packages/hello-gateway", credentials: credentials))
            guard let key = Self.snippet("key", in: page.dom), let sources = Self.snippet("sources", in: page.dom),
                  let install = Self.snippet("install-version", in: page.dom) else {
                Issue.record("no key, sources or install block in \(page.dom)")
                continue
            }
            let repository = prefix == "/" ? "/apt/" : "/private-apt/"
            #expect(sources.contains("URIs: https://127.0.0.1:\(world.port)\(repository)\n"), "\(sources)")

            // The key line: curl the URL it names (with the test CA instead of the system's) into the keyring.
            let apt = APTClient(uri: "unused", keyring: "unused", caFile: world.certificates.ca)
            let keyring = apt.directory.file("etc/apt/keyrings/repository.gpg")
            try FileManager.default.createDirectory(atPath: apt.directory.file("etc/apt/keyrings"), withIntermediateDirectories: true)
            let keyURL = key.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("https://") }.map(String.init)
            #expect(keyURL == "https://127.0.0.1:\(world.port)\(repository)key.gpg", "\(key)")
            let fetched = await APTTool.curl(["-fsSL", "--cacert", world.certificates.ca, "-o", keyring, keyURL ?? ""])
            #expect(fetched.status == 0, "the key did not download: \(fetched.stderr)")

            // The stanza as shown, with only Signed-By pointing into the throwaway root.
            let signedBy = sources.split(separator: "\n").first { $0.hasPrefix("Signed-By: ") }.map(String.init) ?? ""
            apt.directory.write("etc/apt/sources.list.d/gateway.sources", sources.replacingOccurrences(of: signedBy, with: "Signed-By: \(keyring)") + "\n")
            let auth = Self.snippet("auth", in: page.dom)
            if credentials != nil {
                guard let auth else {
                    Issue.record("no auth.conf line behind auth: \(page.dom)")
                    continue
                }
                #expect(auth == "machine 127.0.0.1:\(world.port)/private-apt/ login YOUR-LOGIN password YOUR-PASSWORD")
                let path = apt.directory.write("etc/apt/auth.conf.d/gateway.conf",
                                               auth.replacingOccurrences(of: "YOUR-LOGIN", with: "alice")
                                                   .replacingOccurrences(of: "YOUR-PASSWORD", with: Self.password) + "\n")
                chmod(path, 0o600)
            } else {
                #expect(auth == nil)
            }

            let update = await apt.update()
            #expect(update.status == 0, "apt-get update failed (\(prefix)):\n\(update.output)\n\(update.stderr)")
            #expect(APTClient.problems(update).isEmpty, "\(update.output)\n\(update.stderr)")
            // The install line as shown, simulated (the throwaway root has no dpkg database to install into).
            let words = install.split(separator: " ").map(String.init)
            #expect(words.prefix(3) == ["sudo", "apt-get", "install"], "\(install)")
            let simulated = await apt.run("apt-get", ["install", "--simulate"] + words.dropFirst(3))
            #expect(simulated.output.contains("Inst hello-gateway (1.10.0 "), "\(simulated.output)\n\(simulated.stderr)")
            let download = await apt.run("apt-get", ["download"] + words.dropFirst(3))
            #expect(download.status == 0, "apt-get download failed:\n\(download.output)\n\(download.stderr)")
            let got = try Data(contentsOf: URL(fileURLWithPath: apt.directory.file("download/hello-gateway_1.10.0_amd64.deb")))
            #expect(got == (try Data(contentsOf: URL(fileURLWithPath: world.debs.file("hello-gateway_1.10.0_amd64.deb")))))
        }
        let anonymous = Tool.curl(["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", world.url("/private/packages/hello-gateway")])
        #expect(anonymous.output == "401", "the private catalog needs credentials")
    }

    @Test("over github releases the catalog reads the repository's own index: no second build, no asset or API call")
    func sharedIndex() async throws {
        let fixtures = GitHubFixtures()
        let work = TemporaryDirectory("catalog-apt-github")
        let repo = fixtures.repo("hello-deb", description: "Debian packages of hello")
        repo.commit(["README.md": "hello\n"])
        repo.tag("v1.0.0")
        let deb = DebBuilder.build(name: "hello", version: "1.0-1", into: work.file("built"))
        repo.release("v1.0.0", assets: ["hello_1.0-1_amd64.deb": Array(try Data(contentsOf: URL(fileURLWithPath: deb)))])
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
               "apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                 {"type": "log"},
                 {"type": "apt.repository", "source": "org", "signingKeyFile": "\(Paths.root)/examples/apt/keys/dev-signing.asc",
                  "repositories": ["hello-deb"], "freshFor": "1h"},
                 {"type": "upstream"}]},
               "catalog": {"chain": [{"type": "log"}, {"type": "catalog", "apt": "apt"}, {"type": "respond", "status": 404}]}},
             "run": ["apt", "catalog"]}
            """, directory: certificates.directory)
        let base = "https://127.0.0.1:\(gateway.port("https"))"
        func get(_ path: String) -> String {
            let result = Tool.curl(["-k", "-w", "\n%{http_code}", base + path])
            #expect(result.output.hasSuffix("\n200"), "\(path): \(result.output.suffix(200))")
            return result.output
        }

        // The catalog first: its view builds the repository's index, the one apt is then served.
        let home = get("/")
        #expect(home.contains(">hello</a> <span class=\"detail\">1.0-1 · amd64</span>"), "\(home)")
        let first = try await standIn.counters()
        #expect(first["objects.ranged"] == 1, "the .deb's control read once: \(first)")
        _ = get("/apt/dists/stable/InRelease")
        _ = get("/apt/dists/stable/main/binary-amd64/Packages")
        for _ in 0..<3 {
            for path in ["/", "/?q=hello", "/packages/", "/packages/hello", "/packages/hello/1.0-1"] { _ = get(path) }
        }
        let after = try await standIn.counters()
        #expect(after["api"] == first["api"], "no API call after the first build: \(first) then \(after)")
        #expect(after["objects.ranged"] == first["objects.ranged"] && after["objects.served"] == first["objects.served"],
                "no asset read again: \(first) then \(after)")
        let builds = gateway.stderr.split(separator: "\n").filter { $0.contains("apt: index built") }
        #expect(builds.count == 1, "one index for the repository and the catalog: \(gateway.stderr)")
    }
}
