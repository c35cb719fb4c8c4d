import Foundation
import Middlewares
import Pipeline
import Testing

/// Debian's `docker-registry` (distribution 2.8) on a loopback port with filesystem storage
/// (oci.md §4.1), optionally behind htpasswd, a token service or a redirect to a storage host.
final class OCIRegistryProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    let port: Int
    private(set) var process: Subprocess!

    var url: String { "http://127.0.0.1:\(port)" }
    /// `127.0.0.1:PORT`, as `oras` names a registry.
    var host: String { "127.0.0.1:\(port)" }

    /// `extra` is YAML appended to the config (an `auth:` or `middleware:` section); `storage` is
    /// the root directory (registries may share one for reading).
    init(extra: String = "", storage: String? = nil, directory: TemporaryDirectory = TemporaryDirectory("registry"),
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.directory = directory
        port = freePort()
        guard let binary = Tool.require("docker-registry", sourceLocation: sourceLocation) else { throw ToolMissing(name: "docker-registry") }
        let root = storage ?? directory.file("data")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let config = directory.write("config.yml", """
            version: 0.1
            log: {level: warn}
            storage:
              filesystem: {rootdirectory: \(root)}
              delete: {enabled: true}
              cache: {blobdescriptor: inmemory}
            http:
              addr: 127.0.0.1:\(port)
            \(extra)
            """)
        process = try Subprocess(binary, ["serve", config], stdout: .discard, stderr: .capture)
        guard waitForPort(port, timeout: 20) else {
            let log = String(decoding: process.output.err, as: UTF8.self)
            stop()
            throw NginxFailed(log: "docker-registry did not start: \(log)")
        }
    }

    var storage: String { directory.file("data") }

    deinit { stop() }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        if !process.waitUntilExit(timeout: 10) {
            process.signal(SIGKILL)
            process.waitUntilExit()
        }
    }

    /// `curl` against the registry with the Accept types of oci.md §4.3.
    func get(_ path: String, user: String? = nil) -> Tool.Result {
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
        return Tool.curl(["-H", "Accept: \(accept)"] + (user.map { ["-u", $0] } ?? []) + [url + path])
    }
}

/// The example provider of the README (examples/registry/providers/acme/hello/1.0.0).
enum ExampleProvider {
    static let directory = Paths.root + "/examples/registry/providers/acme/hello/1.0.0"
    static let key = Paths.root + "/examples/registry/keys/acme-signing.asc"
    static let platforms = [("darwin", "arm64"), ("linux", "amd64"), ("linux", "arm64")]

    static var packages: [OCIPusher.Package] {
        platforms.map { os, arch in
            let name = "terraform-provider-hello_1.0.0_\(os)_\(arch).zip"
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))) ?? Data()
            return OCIPusher.Package(os: os, arch: arch, filename: name, zip: Array(bytes))
        }
    }

    /// Pushes the example into `registry` as `repository`.
    static func push(_ registry: OCIRegistryProcess, repository: String, layout: OCIPusher.Layout = .openTofu,
                     username: String? = nil, password: String? = nil) async throws -> OCIPusher.Report {
        let pusher = try OCIPusher(url: registry.url, username: username, password: password.map(Secret.init))
        return try await pusher.push(repository: repository, version: "1.0.0", packages: packages, layout: layout)
    }
}

/// The mirror's JSON as a test reads it.
func fetchJSON(_ url: String, ca: String) -> [String: Any]? {
    let result = Tool.curl(["--cacert", ca, url])
    return (try? JSONSerialization.jsonObject(with: result.stdout)) as? [String: Any]
}

/// `archives` of a `<version>.json`: the hashes by platform.
func archiveHashes(_ document: [String: Any]?) -> [String: [String]] {
    var result: [String: [String]] = [:]
    for (platform, value) in (document?["archives"] as? [String: Any]) ?? [:] {
        result[platform] = ((value as? [String: Any])?["hashes"] as? [String]) ?? []
    }
    return result
}

/// A token service for distribution's `auth: token` (oci.md §4.6), in this process: RS256 JWTs
/// whose header carries the signing certificate (`x5c`), which the registry checks against its
/// `rootcertbundle`. alice (Basic to the realm) may pull and push everywhere; anonymous callers
/// may pull `public/*` only; wrong credentials get 401. It counts what it saw.
final class OCITokenService: @unchecked Sendable {
    let directory = TemporaryDirectory("token")
    let key: PrivateKey
    let certificateDER: [UInt8]
    var certificateFile: String { directory.file("token.crt") }
    private(set) var server: InProcessServer!
    let seen = Collected()
    static let user = "alice", password = "s3cret"

    var realm: String { server.url("/token") }

    init() throws {
        let generated = Tool.run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory.file("token.key"),
                                             "-out", directory.file("token.crt"), "-days", "2", "-subj", "/CN=test-token-issuer"])
        #expect(generated.status == 0, "openssl: \(generated.stderr)")
        key = try PrivateKey(pem: String(contentsOfFile: directory.file("token.key"), encoding: .utf8))
        let der = Tool.run("openssl", ["x509", "-in", directory.file("token.crt"), "-outform", "DER"])
        certificateDER = Array(der.stdout)
        server = try InProcessServer([TokenEndpoint(service: self)])
    }

    /// The `auth:` section of a registry using this service.
    var registryConfig: String {
        """
        auth:
          token:
            realm: \(realm)
            service: test-registry
            issuer: test-issuer
            rootcertbundle: \(certificateFile)
        """
    }

    /// The Authorization headers the service was sent (empty string: none).
    var authorizations: [String] { String(decoding: seen.out, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }

    struct TokenEndpoint: Middleware {
        let service: OCITokenService
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
            let authorization = request.headers["Authorization"] ?? ""
            service.seen.appendOut(Data((authorization + "\n").utf8))
            var user: String?
            if !authorization.isEmpty {
                let expected = "Basic " + Base64.encode(Array("\(OCITokenService.user):\(OCITokenService.password)".utf8))
                guard authorization == expected else {
                    return Response(status: .unauthorized, headers: ["Content-Type": "application/json"],
                                    body: .init(bytes: Array("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}".utf8)))
                }
                user = OCITokenService.user
            }
            var access: [JSONValue] = []
            for (name, value) in request.queryItems where name == "scope" {
                let parts = value.split(separator: ":")
                guard parts.count == 3 else { continue }
                let repository = String(parts[1])
                var actions = parts[2].split(separator: ",").map(String.init)
                if user == nil { actions = repository.hasPrefix("public/") ? actions.filter { $0 == "pull" } : [] }
                access.append(.object(JSONObject([("type", "repository"), ("name", .string(repository)),
                                                  ("actions", .array(actions.map(JSONValue.string)))])))
            }
            let now = Int64(Date().timeIntervalSince1970)
            let claims = JSONObject([
                ("iss", "test-issuer"), ("aud", "test-registry"), ("sub", .string(user ?? "")),
                ("exp", .number(Double(now + 300))), ("nbf", .number(Double(now - 10))), ("iat", .number(Double(now))),
                ("jti", .string(UUID().uuidString)), ("access", .array(access)),
            ])
            let token = try JWT.encode(header: JSONObject([("x5c", .array([.string(Base64.encode(service.certificateDER))]))]),
                                       claims: claims, key: service.key, algorithm: .rs256)
            return .json(.object(JSONObject([("token", .string(token)), ("access_token", .string(token)), ("expires_in", 300)])))
        }
    }
}

/// A registry that paginates its tag list (distribution 2.8 does not): `tags/list` answers 50 tags
/// a page with a relative `Link` to the next, and it serves manifests that must be refused: one
/// over 4 MiB (tag 2.0.0) and one whose `Docker-Content-Digest` does not match (tag 2.0.1).
final class PaginatingRegistry: @unchecked Sendable {
    let tags: [String]
    private(set) var server: InProcessServer!
    let pages = Collected()
    var url: String { server.url("") }

    init(tags: [String]) throws {
        self.tags = tags
        server = try InProcessServer([Endpoint(registry: self)])
    }

    struct Endpoint: Middleware {
        let registry: PaginatingRegistry
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
            if request.path.hasSuffix("/tags/list") {
                registry.pages.appendOut(Data((request.target + "\n").utf8))
                let last = request.queryItems.first { $0.name == "last" }?.value
                let start = last.flatMap { registry.tags.firstIndex(of: $0) }.map { $0 + 1 } ?? 0
                let page = Array(registry.tags[start..<min(start + 50, registry.tags.count)])
                var response = Response.json(.object(JSONObject([("name", "x"), ("tags", .array(page.map(JSONValue.string)))])))
                if start + 50 < registry.tags.count {
                    response.headers["Link"] = "<\(request.path)?n=50&last=\(page.last!)>; rel=\"next\""
                }
                return response
            }
            if request.path.hasSuffix("/manifests/2.0.0") {
                let big = Array("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[],\"x\":\"".utf8)
                    + [UInt8](repeating: 0x61, count: 5 << 20) + Array("\"}".utf8)
                return Response(headers: ["Content-Type": "application/vnd.oci.image.index.v1+json"], body: .init(bytes: big))
            }
            if request.path.hasSuffix("/manifests/2.0.1") {
                let body = Array("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}".utf8)
                return Response(headers: ["Content-Type": "application/vnd.oci.image.index.v1+json",
                                          "Docker-Content-Digest": "sha256:" + String(repeating: "0", count: 64)], body: .init(bytes: body))
            }
            return Response(status: .notFound, headers: ["Content-Type": "application/json"],
                            body: .init(bytes: Array("{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}".utf8)))
        }
    }
}

/// A registry whose tokens are good for one request each: its token service (`/token`) hands out
/// `t1`, `t2`, …, and a tag list answered with the newest token revokes it. So every second
/// request meets a 401 for a token the gateway still keeps as valid, and must fetch a new one.
/// Its one-page tag list has an ETag and answers `If-None-Match` with 304.
final class RevokingRegistry: @unchecked Sendable {
    private(set) var server: InProcessServer!
    private let lock = NSLock()
    private var issued = 0
    private var current = 0
    private var notModified = 0
    var url: String { server.url("") }
    /// Conditional requests answered 304.
    var notModifiedCount: Int { lock.withLock { notModified } }
    var tokensIssued: Int { lock.withLock { issued } }

    init() throws {
        server = try InProcessServer([Endpoint(registry: self)])
    }

    struct Endpoint: Middleware {
        let registry: RevokingRegistry
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
            if request.path == "/token" {
                let token = registry.lock.withLock { () -> String in
                    registry.issued += 1
                    registry.current = registry.issued
                    return "t\(registry.issued)"
                }
                return .json(.object(JSONObject([("token", .string(token)), ("expires_in", 300)])))
            }
            let accepted = registry.lock.withLock { () -> Bool in
                guard request.headers["Authorization"] == "Bearer t\(registry.current)", registry.current > 0 else { return false }
                registry.current = -1
                return true
            }
            guard accepted else {
                let challenge = "Bearer realm=\"\(registry.server.url("/token"))\",service=\"fake\",scope=\"repository:x:pull\""
                return Response(status: .unauthorized, headers: ["WWW-Authenticate": challenge, "Content-Type": "application/json"],
                                body: .init(bytes: Array("{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".utf8)))
            }
            // The list has an ETag; a request that names it gets 304.
            if request.headers["If-None-Match"] == "\"tags-1\"" {
                registry.lock.withLock { registry.notModified += 1 }
                return Response(status: .notModified, headers: ["ETag": "\"tags-1\""], body: .empty)
            }
            var response = Response.json(.object(JSONObject([("name", "x"), ("tags", .array(["1.0.0"]))])))
            response.headers["ETag"] = "\"tags-1\""
            return response
        }
    }
}
