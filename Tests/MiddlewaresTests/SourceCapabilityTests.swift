import Foundation
import Testing
@testable import Middlewares
@testable import Pipeline

/// A source with no capability at all, as a new source type starts out.
private struct Bare: Source {}

private let bareType = SourceType(name: "bare", summary: "holds nothing", options: []) { _, _ in Bare() }

private func load(_ json: String, directory: String = "/tmp") -> (LoadedPipeline?, Diagnostics) {
    let registry = TypeRegistry(middlewares: Builtins.middlewareTypes, sources: Builtins.sourceTypes + [bareType])
    return PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: directory), registry: registry)
}

@Suite("sources by capability")
struct SourceCapabilityTests {
    @Test("a source without a capability the behaviour can read is an error naming what it needs")
    func missingCapability() {
        let (pipeline, diagnostics) = load(#"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "sources": {"plain": {"type": "bare"}},
             "stacks": {"tf": {"chain": [{"type": "terraform.registry", "modules": "plain", "providers": "plain"}, {"type": "upstream"}]}}}
            """#)
        #expect(pipeline == nil)
        #expect(diagnostics.errors.map(\.description) == [
            "/stacks/tf/chain/0/modules: source \"plain\" (bare) cannot serve Terraform modules: that needs a source with Terraform modules of its own, "
                + "a release feed (repositories terraform-<system>-<name>) or a file tree (modules/<namespace>/<name>/<system>/<version>)",
            "/stacks/tf/chain/0/providers: source \"plain\" (bare) cannot serve Terraform providers: that needs a source with Terraform providers of its own, "
                + "a release feed (releases of repositories terraform-provider-<type>) or a file tree (providers/<namespace>/<type>/<version>)",
        ])
    }

    @Test("a directory and a github source each serve the registry through the view of their capability")
    func viewsByCapability() {
        let site = SiteDirectory()
        site.mkdir("modules")
        let (pipeline, diagnostics) = load(#"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "sources": {"local": {"type": "directory", "path": "\#(site.path)"},
                         "org": {"type": "github", "owner": "acme", "token": "t"}},
             "stacks": {"a": {"match": {"pathPrefix": "/a/"},
                              "chain": [{"type": "terraform.registry", "modules": "local", "providers": "org", "prefix": "/a/"}, {"type": "upstream"}]},
                        "b": {"chain": [{"type": "terraform.registry", "modules": "org", "providers": "local"}, {"type": "upstream"}]}}}
            """#)
        #expect(diagnostics.errors.isEmpty, "\(diagnostics.errors)")
        #expect(pipeline != nil)
    }
}

@Suite("directory source: a file tree beneath its folder")
struct DirectorySourceTests {
    func tree() throws -> (SiteDirectory, DirectorySource) {
        let site = SiteDirectory()
        site.write("root/a/one.deb", "1")
        site.write("root/a/b/two.deb", "22")
        site.write("root/.hidden", "h")
        site.write("secret.txt", "outside")
        site.symlink("root/escape", to: site.path + "/secret.txt")
        site.symlink("root/inside", to: "a/one.deb")
        site.symlink("root/loop", to: ".")
        return (site, DirectorySource(root: try DirectoryHandle(path: site.path + "/root")))
    }

    @Test("listings are sorted, recursive on request, and leave every symlink out")
    func listings() async throws {
        let (site, source) = try tree()
        defer { withExtendedLifetime(site) {} }
        let top = try #require(try await source.list(".", recursive: false))
        #expect(top.map(\.path) == [".hidden", "a"])
        let all = try #require(try await source.list(".", recursive: true))
        #expect(all.map(\.path) == [".hidden", "a", "a/b", "a/b/two.deb", "a/one.deb"])
        #expect(all.first { $0.path == "a/b/two.deb" }?.status.size == 2)
        #expect(try await source.list("a/b", recursive: true)?.map(\.path) == ["two.deb"])
        #expect(try await source.list("a/one.deb", recursive: false) == nil)
        #expect(try await source.list("missing", recursive: false) == nil)
    }

    @Test("paths stay beneath the folder: .., absolute paths and links out of it find nothing")
    func beneath() async throws {
        let (site, source) = try tree()
        defer { withExtendedLifetime(site) {} }
        #expect(try await source.open("a/one.deb") != nil)
        #expect(try await source.open("inside") != nil, "a link that stays inside may be opened")
        #expect(try await source.open("escape") == nil)
        #expect(try await source.open("../secret.txt") == nil)
        #expect(try await source.open("/etc/passwd") == nil)
        #expect(try await source.list("..", recursive: false) == nil)
        #expect(try await source.status("a")?.kind == .directory)
        #expect(try await source.status("../secret.txt") == nil)
    }

    @Test("the generation changes when a file is added or changed, and only then")
    func generation() async throws {
        let (site, source) = try tree()
        let first = try #require(try await source.generation(of: "."))
        #expect(try await source.generation(of: ".") == first)
        site.write("root/a/three.deb", "333")
        let second = try #require(try await source.generation(of: "."))
        #expect(second != first)
        site.write("root/a/one.deb", "1111")
        #expect(try await source.generation(of: ".") != second)
        #expect(try await source.generation(of: "a/one.deb") == nil)
    }
}
