import Foundation
import Pipeline
import Testing

/// `catalog` in pipeline.json: every mistake reported with its pointer by `gateway check`; and the
/// Markdown it renders READMEs with.
@Suite("catalog configuration and Markdown")
struct CatalogConfigTests {
    @Test("check reports each catalog mistake with its JSON pointer")
    func configErrors() {
        let dir = TemporaryDirectory()
        dir.write("registry/modules/acme/vpc/aws/1.0.0/main.tf", "\n")
        dir.write("not-a-key.asc", "hello\n")
        let path = dir.write("pipeline.json", #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:8080"}],
             "sources": {"examples": {"type": "directory", "path": "registry"}},
             "stacks": {
               "a": {"match": {"pathPrefix": "/a/"}, "chain": [{"type": "catalog"}, {"type": "respond"}]},
               "b": {"match": {"pathPrefix": "/b/"}, "chain": [{"type": "catalog", "modules": "exampels", "prefix": "b/"}, {"type": "respond"}]},
               "c": {"match": {"pathPrefix": "/c/"}, "chain": [{"type": "catalog", "providers": "examples", "modles": "examples",
                                                                "signingKeys": ["not-a-key.asc"], "registryPrefix": "v1/"}, {"type": "respond"}]},
               "d": {"chain": [{"type": "catalog", "modules": "examples", "mirror": "yes"}, {"type": "respond"}]}}}
            """#)
        let result = Tool.run(Paths.gateway, ["check", path])
        #expect(result.status == 1)
        for line in [
            #"error: /stacks/a/chain/0: give at least one section's source: "modules", "providers", "apt" or "ociMirror""#,
            #"error: /stacks/b/chain/0/modules: unknown source "exampels" (did you mean "examples"?)"#,
            #"error: /stacks/b/chain/0/prefix: must start with /"#,
            #"error: /stacks/c/chain/0/modles: unknown option "modles" (did you mean "modules"?)"#,
            #"error: /stacks/c/chain/0/signingKeys: not-a-key.asc is not an ASCII-armored OpenPGP v4 public key"#,
            #"error: /stacks/c/chain/0/registryPrefix: must start with /"#,
            #"error: /stacks/d/chain/0/mirror: expected true or false"#,
        ] {
            #expect(result.output.contains(line), "missing \(line) in:\n\(result.output)")
        }
        #expect(result.output.split(separator: "\n").filter { $0.hasPrefix("error:") }.count == 7, "one error per mistake:\n\(result.output)")
    }

    @Test("check reports each mistake in the catalog's apt option with its JSON pointer")
    func aptOption() {
        let dir = TemporaryDirectory()
        let key = "\(Paths.root)/examples/apt/keys/dev-signing.asc"
        let hash = "$scrypt$ln=15,r=8,p=1$+VECE7QLfgNXc1UBkdLALw$D1CUC7ePWpxBlXDnLFdyRIbZGstrPFKsxBP24yahhaA"
        let path = dir.write("pipeline.json", """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:8080"}],
             "sources": {"debs": {"type": "directory", "path": "\(Paths.root)/examples/apt/debs"}},
             "stacks": {
               "apt": {"match": {"pathPrefix": "/apt/"}, "chain": [{"type": "apt.repository", "source": "debs", "signingKeyFile": "\(key)"},
                                                                  {"type": "upstream"}]},
               "a": {"match": {"pathPrefix": "/a/"}, "chain": [{"type": "catalog", "apt": "atp"}, {"type": "respond"}]},
               "b": {"match": {"pathPrefix": "/b/"}, "chain": [{"type": "catalog", "apt": "later"}, {"type": "respond"}]},
               "c": {"match": {"pathPrefix": "/c/"}, "chain": [{"type": "catalog", "apt": ["apt"]}, {"type": "respond"}]},
               "later": {"match": {"pathPrefix": "/later/"}, "chain": [{"type": "apt.repository", "source": "debs", "signingKeyFile": "\(key)"},
                                                                  {"type": "upstream"}]},
               "locked": {"match": {"pathPrefix": "/locked/"}, "chain": [{"type": "auth.basic", "users": {"alice": "\(hash)"}},
                                                                        {"type": "apt.repository", "source": "debs", "signingKeyFile": "\(key)"},
                                                                        {"type": "upstream"}]},
               "open": {"match": {"pathPrefix": "/open/"}, "chain": [{"type": "catalog", "apt": "locked"}, {"type": "respond"}]},
               "ok": {"chain": [{"type": "catalog", "apt": "apt"}, {"type": "respond"}]}}}
            """)
        let result = Tool.run(Paths.gateway, ["check", path])
        #expect(result.status == 1)
        for line in [
            #"error: /stacks/a/chain/0/apt: no apt.repository in a stack "atp" declared before this one (did you mean "apt"?)"#,
            #"error: /stacks/b/chain/0/apt: no apt.repository in a stack "later" declared before this one"#,
            #"error: /stacks/c/chain/0/apt: expected a string"#,
            #"warning: /stacks/open/chain/0/apt: the apt.repository of stack "locked" is behind auth but this catalog is not"#,
        ] {
            #expect(result.output.contains(line), "missing \(line) in:\n\(result.output)")
        }
        #expect(result.output.split(separator: "\n").filter { $0.hasPrefix("error:") }.count == 3, "one error per mistake:\n\(result.output)")
    }

    @Test("list-types documents the catalog's options")
    func listTypes() {
        let result = Tool.run(Paths.gateway, ["list-types"])
        #expect(result.output.contains("catalog"))
        #expect(result.output.contains("registryPrefix"))
    }

    @Test("Markdown: GitHub's tables and code blocks; raw HTML as text; unsafe links unlinked; relative URLs resolved")
    func markdown() {
        let html = Markdown.html("""
            # Title

            | a | b |
            |---|---|
            | 1 | 2 |

            ```sh
            echo "<hi>"
            ```

            <div onclick="x()">block</div>

            Text <b>bold</b> [run](javascript:alert(1)) [doc](docs/a.md#part) ![pic](img/p.png) [up](../../etc/passwd) [web](https://example.com/x)
            """, headingOffset: 1) { url, isImage in
            url.hasPrefix("..") ? nil : (isImage ? "/img/" : "/files/") + url
        }
        #expect(html.contains("<h2>Title</h2>"), "headings move down by the offset")
        #expect(html.contains("<td>1</td>"))
        #expect(html.contains("<pre lang=\"sh\"><code>echo &quot;&lt;hi&gt;&quot;\n</code></pre>"))
        #expect(html.contains("<pre><code>&lt;div onclick=&quot;x()&quot;&gt;block&lt;/div&gt;"), "\(html)")
        #expect(html.contains("Text &lt;b&gt;bold&lt;/b&gt; run "), "\(html)")
        #expect(!html.contains("javascript"))
        #expect(html.contains("<a href=\"/files/docs/a.md#part\">doc</a>"))
        #expect(html.contains("<img src=\"/img/img/p.png\" alt=\"pic\" />"))
        #expect(html.contains("<a href=\"../../etc/passwd\">up</a>"), "unresolved URLs stay as written")
        #expect(html.contains("<a href=\"https://example.com/x\">web</a>"))
    }
}
