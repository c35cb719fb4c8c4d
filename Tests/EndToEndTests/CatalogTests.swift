import Foundation
import Testing

/// The web catalog in a real headless Chromium (issue 18, runs 1–5): the example registry, a
/// module whose README tries to run a script, and a private catalog behind basic auth.
@Suite("catalog in a browser", .serialized)
struct CatalogTests {
    static let password = "catalog-password-0123"

    struct World {
        let gateway: GatewayProcess
        let certificates: TestCertificates
        let registry: TemporaryDirectory
        let secret: TemporaryDirectory
        var port: Int { gateway.port("https") }
        func url(_ path: String, credentials: String? = nil) -> String {
            "https://\(credentials.map { $0 + "@" } ?? "")127.0.0.1:\(port)\(path)"
        }
    }

    /// The examples plus a module whose README holds raw HTML and a script; a private source
    /// (one module) whose catalog is behind basic auth at /private/.
    static func world() throws -> World {
        let registry = TemporaryDirectory("catalog-registry")
        try FileManager.default.removeItem(atPath: registry.path)
        try FileManager.default.copyItem(atPath: Paths.root + "/examples/registry", toPath: registry.path)
        registry.write("modules/evil/xss/web/1.0.0/main.tf", "output \"x\" {\n  value = 1\n}\n")
        registry.write("modules/evil/xss/web/1.0.0/README.md", """
            # Evil

            <script>document.title = "pwned"; console.error("the README's script ran")</script>

            Inline <img src="x" onerror="document.title='pwned'"> HTML and a [link](javascript:alert(1)).
            """)
        // A README over 64 KiB (rendered off the event loop).
        registry.write("modules/big/docs/web/1.0.0/main.tf", "\n")
        registry.write("modules/big/docs/web/1.0.0/README.md", "# Big\n\n" + (1...2000).map { "Paragraph \($0) of a long README.\n\n" }.joined())
        let secret = TemporaryDirectory("catalog-private")
        secret.write("modules/acme/secret/aws/1.0.0/main.tf", "output \"secret\" {\n  value = \"private\"\n}\n")
        let hash = Tool.run(Paths.gateway, ["hash-password"], input: Data((password + "\n").utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let certificates = TestCertificates()
        let keys = "\(Paths.root)/examples/registry/keys/acme-signing.asc"
        let gateway = try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                            "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
             "sources": {"examples": {"type": "directory", "path": "\(registry.path)"},
                         "private": {"type": "directory", "path": "\(secret.path)"}},
             "stacks": {
               "terraform": {"match": {"pathPrefix": ["/.well-known/terraform.json", "/v1/"]}, "chain": [
                 {"type": "log"},
                 {"type": "terraform.registry", "modules": "examples", "providers": "examples", "signingKeys": ["\(keys)"]},
                 {"type": "upstream"}]},
               "private": {"match": {"pathPrefix": ["/private/"]}, "chain": [
                 {"type": "log"},
                 {"type": "auth.basic", "users": {"alice": "\(hash)"}, "realm": "catalog"},
                 {"type": "catalog", "prefix": "/private/", "title": "Private catalog", "modules": "private"},
                 {"type": "respond", "status": 404}]},
               "catalog": {"chain": [
                 {"type": "log"},
                 {"type": "catalog", "modules": "examples", "providers": "examples", "signingKeys": ["\(keys)"]},
                 {"type": "respond", "status": 404}]}},
             "run": ["terraform", "private", "catalog"]}
            """, directory: certificates.directory)
        return World(gateway: gateway, certificates: certificates, registry: registry, secret: secret)
    }

    @Test("the home page lists the module and the provider, a search narrows it, screenshots at desktop and phone widths")
    func homeAndSearch() throws {
        let world = try Self.world()
        let home = Browser.load(world.url("/"))
        #expect(home.dom.contains(">acme/vpc/aws</a>"))
        #expect(home.dom.contains(">acme/hello</a>"))
        #expect(home.dom.contains("<strong>3</strong> modules"))
        #expect(home.dom.contains("<strong>1</strong> provider"))
        #expect(home.console.isEmpty, "\(home.console)")

        let search = Browser.load(world.url("/?q=hello"))
        #expect(search.dom.contains(">acme/hello</a>"))
        #expect(!search.dom.contains(">acme/vpc/aws</a>"))
        #expect(search.dom.contains("1 result for “hello”"))
        let namespace = Browser.load(world.url("/?q=acme+aws"))
        #expect(namespace.dom.contains(">acme/vpc/aws</a>") && !namespace.dom.contains(">acme/hello</a>"))
        let none = Browser.load(world.url("/?q=no-such-thing"))
        #expect(none.dom.contains("0 results"))
        #expect(search.console.isEmpty && none.console.isEmpty)

        let folder = Browser.artifacts("catalog")
        for (name, path) in [("home", "/"), ("module", "/modules/acme/vpc/aws"), ("provider", "/providers/acme/hello")] {
            let desktop = Browser.screenshot(world.url(path), width: 1280, height: 900, to: "\(folder)/\(name)-desktop.png")
            let phone = Browser.screenshot(world.url(path), width: 390, height: 844, to: "\(folder)/\(name)-phone.png")
            #expect(desktop > 20_000, "\(name) desktop screenshot is \(desktop) bytes")
            #expect(phone > 10_000, "\(name) phone screenshot is \(phone) bytes")
        }
    }

    @Test("a module page renders its README; a script in a README is text and never runs")
    func readme() throws {
        let world = try Self.world()
        let page = Browser.load(world.url("/modules/acme/vpc/aws"))
        #expect(page.dom.contains("<h4>Usage</h4>"), "a heading of the README is an element")
        #expect(page.dom.contains("<pre lang=\"hcl\"><code>module \"vpc\" {"), "its code block is an element")
        #expect(page.dom.contains("<td><code>module_version</code></td>"), "its table is an element")
        #expect(page.dom.contains("href=\"/modules/acme/vpc/aws/1.2.0/files/main.tf\""), "a relative link points at the version's file")
        #expect(page.dom.contains("<strong>1.2.0</strong>"), "the newest version is selected")
        #expect(page.console.isEmpty, "\(page.console)")
        #expect(!page.dom.contains("for a namespace, not a host"))
        let local = Browser.load("https://localhost:\(world.port)/modules/acme/vpc/aws")
        #expect(local.dom.contains("source  = \"localhost:\(world.port)/acme/vpc/aws\""))
        #expect(local.dom.contains("for a namespace, not a host"), "a dot-less host gets Terraform's caveat")
        let older = Browser.load(world.url("/modules/acme/vpc/aws/1.1.0"))
        #expect(older.dom.contains("(version 1.1.0)"), "the README at the selected version")

        let big = Tool.curl(["-k", world.url("/modules/big/docs/web")]).output
        #expect(big.contains("<h3>Big</h3>") && big.contains("<p>Paragraph 2000 of a long README.</p>"))
        let evil = Browser.load(world.url("/modules/evil/xss/web"))
        #expect(evil.dom.contains("<title>evil/xss/web · Registry catalog</title>"), "the README's script did not change the title")
        #expect(evil.dom.contains("&lt;script&gt;document.title = \"pwned\""), "the script is shown as text")
        #expect(!evil.dom.contains("<img src=\"x\""), "inline HTML is text")
        #expect(evil.dom.contains("&lt;img src=\"x\" onerror="))
        #expect(!evil.dom.contains("javascript:alert"), "unsafe link targets are dropped")
        #expect(evil.dom.components(separatedBy: "<script").count == 2, "only the catalog's own script element")
        #expect(evil.console.isEmpty, "\(evil.console)")
    }

    @Test("the module block copied from the page makes terraform init install that version")
    func copiedModuleBlock() throws {
        let world = try Self.world()
        let page = Browser.load(world.url("/modules/acme/vpc/aws/1.1.0"))
        guard let start = page.dom.range(of: "<pre id=\"usage\""), let code = page.dom[start.upperBound...].range(of: "<code>"),
              let end = page.dom[code.upperBound...].range(of: "</code>") else {
            Issue.record("no usage block in \(page.dom)")
            return
        }
        let block = String(page.dom[code.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        #expect(block.contains("source  = \"127.0.0.1:\(world.port)/acme/vpc/aws\""), "\(block)")
        #expect(block.contains("version = \"1.1.0\""), "\(block)")
        let terraform = TerraformRunner(caFile: world.certificates.ca)
        terraform.write("main.tf", block + "\n")
        let result = terraform.initialize()
        #expect(result.status == 0, "terraform init failed:\n\(result.output)\n\(result.stderr)")
        #expect(terraform.file(".terraform/modules/vpc/main.tf")?.contains("value = \"1.1.0\"") == true)
    }

    @Test("keyboard only: skip link first, search from the keyboard, a result opened with Enter")
    func keyboard() throws {
        let world = try Self.world()
        let page = try DevToolsPage(url: world.url("/"))
        _ = try page.waitForLocation(containing: "/")
        try page.press("Tab")
        #expect(try page.focused() == "a Skip to content")
        var presses = 0
        while try page.focused() != "input #q ", presses < 10 {
            try page.press("Tab")
            presses += 1
        }
        #expect(try page.focused() == "input #q ", "the search field is reachable by Tab")
        try page.type("vpc")
        try page.press("Enter")
        let results = try page.waitForLocation(containing: "q=vpc")
        #expect(results.hasSuffix("/?q=vpc"))
        presses = 0
        while try page.focused() != "a acme/vpc/aws", presses < 20 {
            try page.press("Tab")
            presses += 1
        }
        #expect(try page.focused() == "a acme/vpc/aws", "the result is reachable by Tab")
        try page.press("Enter")
        _ = try page.waitForLocation(containing: "/modules/acme/vpc/aws")
        #expect(try page.evaluate("document.querySelector('h1').textContent") as? String == "acme/vpc/aws")
        // Focus is visible: the focused link draws an outline.
        try page.press("Tab")
        #expect(try page.evaluate("getComputedStyle(document.activeElement).outlineStyle") as? String == "solid")
    }

    @Test("behind auth: anonymous gets a login prompt and no private name; a user sees the private module")
    func respectsAuth() throws {
        let world = try Self.world()
        let anonymous = Tool.curl(["-k", "-i", "--http1.1", world.url("/private/")])
        #expect(anonymous.output.hasPrefix("HTTP/1.1 401"))
        #expect(anonymous.output.contains("WWW-Authenticate: Basic realm=\"catalog\""))
        #expect(!anonymous.output.contains("secret"))
        let browser = Browser.load(world.url("/private/"))
        #expect(!browser.dom.contains("secret"))
        let search = Browser.load(world.url("/private/?q=secret"))
        #expect(!search.dom.contains("acme/secret"))
        #expect(!Browser.load(world.url("/?q=secret")).dom.contains("acme/secret"), "the public catalog does not list it")

        let user = Browser.load(world.url("/private/", credentials: "alice:\(Self.password)"))
        #expect(user.dom.contains(">acme/secret/aws</a>"), "\(user.dom)")
        let module = Tool.curl(["-k", "-u", "alice:\(Self.password)", world.url("/private/modules/acme/secret/aws")])
        #expect(module.output.contains("<h1>acme/secret/aws</h1>"))
    }

    @Test("every page is valid HTML (tidy) and no link in the catalog answers 404")
    func validAndLinked() throws {
        let world = try Self.world()
        let pages = crawl(world, start: "/", credentials: nil) + crawl(world, start: "/private/", credentials: "alice:\(Self.password)")
        #expect(pages.count >= 12, "crawled \(pages)")
        #expect(pages.contains("/modules/acme/vpc/aws/1.0.0") && pages.contains("/providers/acme/hello/1.0.0")
                && pages.contains("/catalog.css") && pages.contains("/modules/acme/vpc/aws/1.2.0/files/main.tf"), "\(pages)")
    }

    /// Fetches every same-site link and resource from `start` on: each must answer 200, and each
    /// HTML page must pass tidy without a warning.
    func crawl(_ world: World, start: String, credentials: String?) -> [String] {
        Self.crawl(base: world.url(""), start: start, credentials: credentials)
    }

    /// `crawl` from `base` (`https://127.0.0.1:PORT`): the other catalog suites crawl their pages too.
    static func crawl(base: String, start: String, credentials: String?) -> [String] {
        var queue = [start], seen: Set<String> = [start]
        let scratch = TemporaryDirectory("crawl")
        var index = 0
        while index < queue.count, index < 200 {
            let path = queue[index]
            index += 1
            let file = scratch.file("page-\(index)")
            var arguments = ["-k", "-o", file, "-w", "%{http_code} %{content_type}"]
            if let credentials { arguments += ["-u", credentials] }
            let answer = Tool.curl(arguments + [base + path]).output
            #expect(answer.hasPrefix("200 "), "\(path) answered \(answer)")
            guard answer.contains("text/html"), let html = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            let tidy = Tool.run("tidy", ["-q", "-e", "--warn-proprietary-attributes", "no", file])
            #expect(tidy.status == 0, "\(path) is not valid HTML: \(tidy.stderr)")
            for link in links(in: html, base: path) where seen.insert(link).inserted { queue.append(link) }
        }
        return queue
    }

    /// Same-site `href` and `src` targets of a page, fragments and queries left out.
    static func links(in html: String, base: String) -> [String] {
        var found: [String] = []
        for attribute in ["href=\"", "src=\""] {
            for piece in html.components(separatedBy: attribute).dropFirst() {
                guard let end = piece.firstIndex(of: "\"") else { continue }
                var target = String(piece[..<end]).replacingOccurrences(of: "&amp;", with: "&")
                if let cut = target.firstIndex(where: { $0 == "#" || $0 == "?" }) { target = String(target[..<cut]) }
                guard target.hasPrefix("/"), !target.hasPrefix("//") else { continue }
                found.append(target)
            }
        }
        return found
    }
}
