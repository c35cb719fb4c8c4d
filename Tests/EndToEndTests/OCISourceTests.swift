import Foundation
import Middlewares
import Pipeline
import Testing

/// The `oci` source against real registries: auth, redirects to storage, the seed layout,
/// pagination and refused manifests, pushing twice.
@Suite("oci source", .serialized)
struct OCISourceTests {
    static let repository = "terraform-providers/registry.acme.test/acme/hello"

    /// A gateway whose /mirror/ reads the registry at `url` (with `sourceExtra` options).
    static func gateway(url: String, template: String = "terraform-providers/${hostname}/${namespace}/${type}",
                        sourceExtra: String = "") throws -> GatewayProcess {
        try GatewayProcess(config: """
            {"version": 1,
             "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "sources": {"oci": {"type": "oci", "url": "\(url)", "repository": "\(template)"\(sourceExtra)}},
             "stacks": {"oci": {"chain": [{"type": "log"}, {"type": "oci.mirror", "source": "oci"}, {"type": "upstream"}]}}}
            """)
    }

    /// The example's hashes as the directory mirror computes them, by platform.
    static let expectedHashes: [String: [String]] = {
        var result: [String: [String]] = [:]
        for package in ExampleProvider.packages {
            let fd = open(ExampleProvider.directory + "/" + package.filename, O_RDONLY)
            let zip = OpenFile(descriptor: fd).flatMap { try? ZipArchive(file: $0) }.flatMap { try? ProviderHashes.hash1($0) } ?? "?"
            result["\(package.os)_\(package.arch)"] = [zip, "zh:" + Hex.encode(Digest.sha256(package.zip))]
        }
        return result
    }()

    /// `<version>.json` through `gateway`, and the linux_amd64 zip fetched from the URL it gives.
    static func fetchThrough(_ gateway: GatewayProcess, path: String = "/mirror/registry.acme.test/acme/hello/1.0.0.json")
        -> (hashes: [String: [String]], zip: Data, status: String) {
        let result = Tool.curl(["-w", "\n%{http_code}", gateway.url("web", path)])
        let text = result.output
        let status = String(text.split(separator: "\n").last ?? "")
        let body = Data(text.utf8.dropLast(status.count + 1))
        let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        let url = (((json?["archives"] as? [String: Any])?["linux_amd64"] as? [String: Any])?["url"] as? String) ?? ""
        let zip = url.isEmpty ? Data() : Tool.curl(["-f", url]).stdout
        return (archiveHashes(json), zip, status)
    }

    static var linuxZip: Data { Data(ExampleProvider.packages.first { $0.os == "linux" && $0.arch == "amd64" }!.zip) }

    /// `gateway oci push` of the example release into `registry`.
    static func cliPush(_ registry: OCIRegistryProcess, repository: String = repository, key: String? = ExampleProvider.key,
                        folder: String = ExampleProvider.directory) -> Tool.Result {
        Tool.run(Paths.gateway, ["oci", "push", folder, "--repository", "\(registry.host)/\(repository)", "--plain-http"]
                 + (key.map { ["--key", $0] } ?? []))
    }

    @Test("gateway oci push: skopeo reads the index with the provider-target descriptors and platforms; a second push uploads no blob")
    func pushTwiceAndSkopeo() async throws {
        let registry = try OCIRegistryProcess()
        let first = Self.cliPush(registry)
        #expect(first.status == 0, "\(first.output) \(first.stderr)")
        #expect(first.output.contains("good signature by"))
        #expect(first.output.contains("7 blobs uploaded, 0 already there"), "\(first.output)")
        let second = Self.cliPush(registry)
        #expect(second.status == 0)
        #expect(second.output.contains("0 blobs uploaded, 7 already there"), "\(second.output)")
        let raw = Tool.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/\(Self.repository):1.0.0"])
        #expect(raw.status == 0, "skopeo: \(raw.stderr)")
        let index = (try? JSONSerialization.jsonObject(with: raw.stdout)) as? [String: Any]
        #expect(index?["mediaType"] as? String == "application/vnd.oci.image.index.v1+json")
        #expect(index?["artifactType"] as? String == "application/vnd.opentofu.provider")
        let manifests = ((index?["manifests"] as? [[String: Any]]) ?? []).filter {
            $0["artifactType"] as? String == "application/vnd.opentofu.provider-target"
        }
        #expect(manifests.count == 3)
        let platforms = manifests.compactMap { ($0["platform"] as? [String: String]).map { "\($0["os"] ?? "")_\($0["architecture"] ?? "")" } }
        #expect(platforms.sorted() == ["darwin_arm64", "linux_amd64", "linux_arm64"])
        // A platform manifest and its zip, byte for byte, as skopeo reads them.
        let linux = manifests.first { ($0["platform"] as? [String: String])?["os"] == "linux" && ($0["platform"] as? [String: String])?["architecture"] == "amd64" }
        let digest = linux?["digest"] as? String ?? ""
        let platform = Tool.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/\(Self.repository)@\(digest)"])
        let layers = (((try? JSONSerialization.jsonObject(with: platform.stdout)) as? [String: Any])?["layers"] as? [[String: Any]]) ?? []
        #expect(layers.count == 1 && layers.first?["mediaType"] as? String == "archive/zip")
        #expect(layers.first?["digest"] as? String == "sha256:" + Hex.encode(Digest.sha256(Array(Self.linuxZip))))
    }

    @Test("gateway oci push refuses a release whose signature does not verify against --key, and pushes nothing")
    func pushRefusesBadSignature() throws {
        let registry = try OCIRegistryProcess()
        let home = GnuPGHome()
        _ = home.generateKey("someone else <else@example.com>", algorithm: "ed25519")
        let other = home.gpg(["--armor", "--export", "else@example.com"])
        let key = home.write("other.asc", Array(other.stdout))
        let result = Self.cliPush(registry, key: key)
        #expect(result.status == 1)
        #expect(result.stderr.contains("does not verify"), "\(result.stderr)")
        let tags = registry.get("/v2/\(Self.repository)/tags/list")
        #expect(tags.output.contains("NAME_UNKNOWN"), "\(tags.output)")
    }

    @Test("the seed program's layout (one manifest, a layer per platform) is read too")
    func seedLayout() async throws {
        let registry = try OCIRegistryProcess()
        _ = try await ExampleProvider.push(registry, repository: Self.repository, layout: .seed)
        let gateway = try Self.gateway(url: registry.url)
        let fetched = Self.fetchThrough(gateway)
        #expect(fetched.status == "200")
        #expect(fetched.hashes == Self.expectedHashes, "\(fetched.hashes)")
        #expect(fetched.zip == Self.linuxZip)
    }

    @Test("a registry behind htpasswd: Basic credentials work; a wrong password is a 502 and a log line, never the credentials")
    func htpasswd() async throws {
        let directory = TemporaryDirectory("htpasswd")
        let made = Tool.run("htpasswd", ["-Bbn", "alice", "s3cret"])
        #expect(made.status == 0, "htpasswd: \(made.stderr)")
        let file = directory.write("htpasswd", made.output)
        let registry = try OCIRegistryProcess(extra: "auth:\n  htpasswd: {realm: test-realm, path: \(file)}")
        _ = try await ExampleProvider.push(registry, repository: Self.repository, username: "alice", password: "s3cret")

        let good = try Self.gateway(url: registry.url, sourceExtra: ", \"username\": \"alice\", \"password\": \"s3cret\"")
        let fetched = Self.fetchThrough(good)
        #expect(fetched.status == "200")
        #expect(fetched.hashes == Self.expectedHashes)
        #expect(fetched.zip == Self.linuxZip)

        // A Range goes on to the registry, which answers 206 with the bytes asked for.
        let ranged = Tool.curl(["-r", "0-9", "-w", "%{http_code}",
                                good.url("web", "/mirror/registry.acme.test/acme/hello/1.0.0/terraform-provider-hello_1.0.0_linux_amd64.zip")])
        #expect(ranged.stdout == Self.linuxZip.prefix(10) + Data("206".utf8), "\(ranged.output)")

        let bad = try Self.gateway(url: registry.url, sourceExtra: ", \"username\": \"alice\", \"password\": \"wrong-password\"")
        let refused = Tool.curl(["-w", "\n%{http_code}", bad.url("web", "/mirror/registry.acme.test/acme/hello/index.json")])
        #expect(refused.output.hasSuffix("\n502"), "\(refused.output)")
        #expect(!refused.output.contains("127.0.0.1"))
        #expect(bad.waitForLog("the registry refused the credentials"), "\(bad.stderr)")
        #expect(!bad.stderr.contains("wrong-password") && !bad.stderr.contains("s3cret"))
    }

    @Test("a registry behind a token service: anonymous tokens for public repositories, Basic to the realm for others")
    func tokenService() async throws {
        let tokens = try OCITokenService()
        let registry = try OCIRegistryProcess(extra: tokens.registryConfig)
        _ = try await ExampleProvider.push(registry, repository: "public/" + Self.repository, username: "alice", password: "s3cret")
        _ = try await ExampleProvider.push(registry, repository: Self.repository, username: "alice", password: "s3cret")

        let anonymous = try Self.gateway(url: registry.url, template: "public/terraform-providers/${hostname}/${namespace}/${type}")
        let public_ = Self.fetchThrough(anonymous)
        #expect(public_.status == "200")
        #expect(public_.hashes == Self.expectedHashes)
        #expect(public_.zip == Self.linuxZip)
        // The private repository is out of an anonymous token's reach.
        let outsider = try Self.gateway(url: registry.url)
        let denied = Tool.curl(["-w", "\n%{http_code}", outsider.url("web", "/mirror/registry.acme.test/acme/hello/index.json")])
        #expect(denied.output.hasSuffix("\n502"), "\(denied.output)")
        #expect(outsider.waitForLog("oci registry") && (outsider.stderr.contains("insufficient_scope") || outsider.stderr.contains("refused")), "\(outsider.stderr)")

        let before = tokens.authorizations.count
        let alice = try Self.gateway(url: registry.url, sourceExtra: ", \"username\": \"alice\", \"password\": \"s3cret\"")
        let private_ = Self.fetchThrough(alice)
        #expect(private_.status == "200")
        #expect(private_.hashes == Self.expectedHashes)
        #expect(private_.zip == Self.linuxZip)
        // One token for the repository's pull scope, kept for every later request.
        let asked = tokens.authorizations.dropFirst(before)
        #expect(asked.count == 1 && asked.allSatisfy { $0.hasPrefix("Basic ") }, "\(asked)")

        let wrong = try Self.gateway(url: registry.url, sourceExtra: ", \"username\": \"alice\", \"password\": \"nope-nope\"")
        let refused = Tool.curl(["-w", "\n%{http_code}", wrong.url("web", "/mirror/registry.acme.test/acme/hello/index.json")])
        #expect(refused.output.hasSuffix("\n502"), "\(refused.output)")
        #expect(wrong.waitForLog("the token service answered 401"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("nope-nope"))
        await tokens.server.stop()
    }

    @Test("a token the registry stops taking mid-use is replaced once; a kept tag list is revalidated with its ETag")
    func tokenRefresh() async throws {
        let registry = try RevokingRegistry()
        let gateway = try Self.gateway(url: registry.url, sourceExtra: ", \"freshFor\": \"0s\"")
        for round in 1...3 {
            let index = Tool.curl(["-w", "\n%{http_code}", gateway.url("web", "/mirror/registry.acme.test/acme/hello/index.json")])
            #expect(index.output == "{\"versions\":{\"1.0.0\":{}}}\n200", "round \(round): \(index.output)")
        }
        // One token per request: the first learnt the challenge, each later one replaced a revoked token once.
        #expect(registry.tokensIssued == 3)
        // Rounds 2 and 3 revalidated the kept list with its ETag (freshFor 0s): 304, no new list.
        #expect(registry.notModifiedCount == 2)
        await registry.server.stop()
    }

    @Test("blobs redirected (307) to a storage host download, and that host never sees the registry's Authorization")
    func redirectToStorage() async throws {
        let storage = try NginxProcess(servers: "server { listen 127.0.0.1:{port0}; root {root}; }")
        let directory = TemporaryDirectory("htpasswd")
        let file = directory.write("htpasswd", Tool.run("htpasswd", ["-Bbn", "alice", "s3cret"]).output)
        let registry = try OCIRegistryProcess(extra: """
            auth:
              htpasswd: {realm: test-realm, path: \(file)}
            middleware:
              storage:
                - name: redirect
                  options: {baseurl: "\(storage.url("/"))"}
            """, storage: storage.directory.file("www"))
        _ = try await ExampleProvider.push(registry, repository: Self.repository, username: "alice", password: "s3cret")
        let gateway = try Self.gateway(url: registry.url, sourceExtra: ", \"username\": \"alice\", \"password\": \"s3cret\"")
        let fetched = Self.fetchThrough(gateway)
        #expect(fetched.status == "200")
        #expect(fetched.hashes == Self.expectedHashes)
        #expect(fetched.zip == Self.linuxZip)
        let blobs = storage.accessLog.filter { $0.contains("/docker/registry/v2/blobs/") }
        #expect(!blobs.isEmpty, "the storage host saw no blob request: \(storage.accessLog)")
        #expect(blobs.allSatisfy { $0.hasSuffix("auth=-") || $0.contains("auth= ") || $0.contains("auth=-") }, "\(blobs)")
        #expect(!storage.accessLog.contains { $0.contains("auth=Basic") || $0.contains("auth=Bearer") })
    }

    @Test("every page of a paginated tag list is read; non-versions are left out; big or mismatched manifests are refused")
    func paginationAndRefusals() async throws {
        var tags = (0..<118).map { "1.0.\($0)" }
        tags.insert("latest", at: 40)
        tags.insert("sha256-" + String(repeating: "ab", count: 32), at: 90)
        tags += ["2.0.0", "2.0.1"]
        let registry = try PaginatingRegistry(tags: tags)
        let gateway = try Self.gateway(url: registry.url)
        let result = Tool.curl([gateway.url("web", "/mirror/registry.acme.test/acme/hello/index.json")])
        let versions = (((try? JSONSerialization.jsonObject(with: result.stdout)) as? [String: Any])?["versions"] as? [String: Any]) ?? [:]
        #expect(versions.count == 120, "\(result.output)")
        #expect(versions["1.0.117"] != nil && versions["latest"] == nil)
        #expect(String(decoding: registry.pages.out, as: UTF8.self).split(separator: "\n").count == 3)

        for (version, reason) in [("2.0.0", "over the 4 MiB limit"), ("2.0.1", "does not match its digest")] {
            let refused = Tool.curl(["-w", "\n%{http_code}", gateway.url("web", "/mirror/registry.acme.test/acme/hello/\(version).json")])
            #expect(refused.output.hasSuffix("\n502"), "\(refused.output)")
            // The log line is written before the 502, but reaches the test through a pipe reader.
            #expect(gateway.waitForLog(reason), "\(gateway.stderr)")
        }
        await registry.server.stop()
    }
}
