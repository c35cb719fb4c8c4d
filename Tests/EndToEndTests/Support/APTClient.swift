import Foundation
import Testing

/// The APT end-to-end suites, one test at a time: they wait on apt-get, curl and dpkg-deb
/// with blocking calls, and several of them at once would hold the test threads that the
/// in-process servers of other suites need.
@Suite("apt end to end", .serialized)
struct APTEndToEnd {}

/// apt-get and apt-cache in a throwaway root (apt.md §5): their own sources, lists, cache, status
/// file and configuration (`APT_CONFIG` with empty config parts), so a test never reads or
/// changes the machine's apt setup. Downloads run unsandboxed (the temporary folders are the
/// test's own, which the `_apt` user could not read).
final class APTClient: @unchecked Sendable {
    let directory = TemporaryDirectory("apt-client")
    var config: String { directory.file("apt.conf") }

    /// `uri` is the repository root (`https://localhost:PORT/apt/`); `keyring` the Signed-By file.
    init(uri: String, keyring: String, caFile: String?, suite: String = "stable", components: String = "main",
         architecture: String = "amd64", extraConfig: String = "") {
        for folder in ["etc/apt/apt.conf.d", "etc/apt/sources.list.d", "etc/apt/auth.conf.d", "etc/apt/preferences.d", "etc/apt/trusted.gpg.d",
                       "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg", "var/log/apt", "download"] {
            try! FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true)
        }
        directory.write("var/lib/dpkg/status", "")
        directory.write("etc/apt/sources.list.d/gateway.sources", """
            Types: deb
            URIs: \(uri)
            Suites: \(suite)
            Components: \(components)
            Signed-By: \(keyring)

            """)
        let root = directory.path
        directory.write("apt.conf", """
            Dir::Etc "\(root)/etc/apt/";
            Dir::Etc::Main "apt.conf";
            Dir::Etc::Parts "apt.conf.d";
            Dir::Etc::SourceList "sources.list";
            Dir::Etc::SourceParts "sources.list.d";
            Dir::Etc::Preferences "preferences";
            Dir::Etc::PreferencesParts "preferences.d";
            Dir::Etc::Trusted "trusted.gpg";
            Dir::Etc::TrustedParts "trusted.gpg.d";
            Dir::Etc::netrc "auth.conf";
            Dir::Etc::netrcparts "auth.conf.d";
            Dir::State "\(root)/var/lib/apt/";
            Dir::State::status "\(root)/var/lib/dpkg/status";
            Dir::Cache "\(root)/var/cache/apt/";
            Dir::Log "\(root)/var/log/apt/";
            Debug::NoLocking "true";
            APT::Sandbox::User "root";
            APT::Architecture "\(architecture)";
            APT::Architectures { "\(architecture)"; };
            Acquire::Languages "none";
            Acquire::Retries "0";
            \(caFile.map { "Acquire::https::CAInfo \"\($0)\";" } ?? "")
            \(extraConfig)

            """)
    }

    /// Writes `auth.conf.d/gateway.conf` (mode 0600, as apt wants it).
    func setCredentials(machine: String, login: String, password: String) {
        let path = directory.write("etc/apt/auth.conf.d/gateway.conf", "machine \(machine)\nlogin \(login)\npassword \(password)\n")
        chmod(path, 0o600)
    }

    /// Runs `apt-get` (or `apt-cache` when `tool` says so) with this root's configuration.
    @discardableResult
    func run(_ tool: String = "apt-get", _ arguments: [String], directory: String? = nil) async -> Tool.Result {
        let environment = ["APT_CONFIG": config, "LC_ALL": "C"], folder = directory ?? self.directory.file("download")
        return await APTTool.run(tool, arguments, environment: environment, directory: folder)
    }

    /// `apt-get update --error-on=any` (a failed index is an error, apt.md §10).
    func update() async -> Tool.Result { await run("apt-get", ["update", "--error-on=any"]) }

    /// The lines of an apt run that are warnings or errors.
    static func problems(_ result: Tool.Result) -> [String] {
        (result.output + "\n" + result.stderr).split(separator: "\n").map(String.init).filter { $0.hasPrefix("W:") || $0.hasPrefix("E:") }
    }
}

/// `Tool.run` and `Tool.curl` on a thread of their own: a test waiting for apt-get or a long
/// download then holds none of the test threads the in-process servers of other suites need.
enum APTTool {
    static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                    input: Data? = nil, timeout: TimeInterval = 120) async -> Tool.Result {
        await offThread { Tool.run(name, arguments, environment: environment, directory: directory, input: input, timeout: timeout) }
    }

    static func curl(_ arguments: [String], timeout: TimeInterval = 60) async -> Tool.Result {
        await offThread { Tool.curl(arguments, timeout: timeout) }
    }

    static func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }
}

/// Builds small `.deb` files with `dpkg-deb`, as a project's CI would.
enum DebBuilder {
    /// Builds `<name>_<version>_<arch>.deb` into `folder` (compressed with `compression`: gzip, xz,
    /// zstd) holding one file `/usr/share/doc/<name>/hello.txt`; returns its path.
    @discardableResult
    static func build(name: String, version: String, architecture: String = "amd64", compression: String = "gzip",
                      into folder: String, extraControl: String = "") -> String {
        let work = TemporaryDirectory("deb-build")
        work.write("root/DEBIAN/control", """
            Package: \(name)
            Version: \(version)
            Architecture: \(architecture)
            Maintainer: Gateway Tests <tests@example.com>
            Section: misc
            Priority: optional
            \(extraControl.isEmpty ? "" : extraControl + "\n")Description: test package \(name)
             Long description for \(name) \(version).
             .
             - a line starting with a dash

            """)
        work.write("root/usr/share/doc/\(name)/hello.txt", "hello from \(name) \(version)\n")
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = "\(folder)/\(name)_\(version.replacingOccurrences(of: ":", with: "%3a"))_\(architecture).deb"
        let result = Tool.run("dpkg-deb", ["--root-owner-group", "-Z\(compression)", "--build", work.file("root"), file])
        #expect(result.status == 0, "dpkg-deb failed: \(result.stderr)")
        return file
    }
}
