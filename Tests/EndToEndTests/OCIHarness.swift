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
