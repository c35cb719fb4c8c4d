import Foundation
import Testing
import Pipeline

extension APTEndToEnd {
    /// `apt.repository` over a `directory` source, driven by the real apt-get, gpgv and sqv over TLS
    /// with a test CA (issue 12, runs 1, 5, 6 and 7 for a folder of .debs).
    @Suite("apt repository from a directory source", .serialized)
    struct APTDirectoryTests {
        /// A folder of packages, a signing key and a gateway serving them at /apt/.
        final class Fixture: @unchecked Sendable {
            let work = TemporaryDirectory("apt-fixture")
            let certificates = TestCertificates()
            var debs: String { work.file("debs") }
            var keyFile: String { work.file("keys/signing.asc") }
            var keyring: String { work.file("keys/repository.gpg") }
            let key: OpenPGPSecretKey

            init() throws {
                key = try OpenPGPSecretKey.generate(userID: "Gateway tests <apt@example.com>", created: Date(timeIntervalSince1970: 1_700_000_000))
                work.write("keys/signing.asc", key.armored)
                work.write("keys/repository.gpg", Data(key.certificate.binary))
                DebBuilder.build(name: "hello", version: "1.0-1", compression: "gzip", into: debs)
                DebBuilder.build(name: "hello", version: "1.1-1", compression: "xz", into: debs + "/newer")
                DebBuilder.build(name: "hello-doc", version: "2:1.0", architecture: "all", compression: "zstd", into: debs)
                DebBuilder.build(name: "libgreet1", version: "0.9", compression: "xz", into: debs + "/lib", extraControl: "Source: libgreet (0.9)")
                work.write("debs/not-a-package.deb", "this is not an ar archive\n")
                // A real package cut short inside its control archive.
                let full = try Data(contentsOf: URL(fileURLWithPath: DebBuilder.build(name: "cut", version: "1.0", into: work.file("whole"))))
                work.write("debs/truncated.deb", full.prefix(200))
            }

            func startGateway(extra: String = "") throws -> GatewayProcess {
                try GatewayProcess(config: """
                    {"version": 1,
                     "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                                    "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
                     "sources": {"debs": {"type": "directory", "path": "\(debs)"}},
                     "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                        {"type": "log"},
                        {"type": "apt.repository", "source": "debs", "signingKeyFile": "\(keyFile)", "freshFor": "0s"\(extra)},
                        {"type": "upstream"}]}}}
                    """, directory: certificates.directory)
            }

            func client(_ gateway: GatewayProcess, keyring: String? = nil) -> APTClient {
                APTClient(uri: "https://localhost:\(gateway.port("https"))/apt/", keyring: keyring ?? self.keyring, caFile: certificates.ca)
            }
        }

        @Test("apt-get update, policy and download work with no warning; bytes equal the .deb")
        func updateAndDownload() async throws {
            let fixture = try Fixture()
            let gateway = try fixture.startGateway()
            let apt = fixture.client(gateway)
            let update = await apt.update()
            #expect(update.status == 0, "apt-get update failed:\n\(update.output)\n\(update.stderr)")
            #expect(APTClient.problems(update).isEmpty, "\(update.output)\n\(update.stderr)")

            // Two versions of one package are listed (apt.md rule 11); the arch-all one too.
            let policy = await apt.run("apt-cache", ["policy", "hello", "hello-doc", "libgreet1"])
            #expect(policy.output.contains("1.0-1"), "\(policy.output)")
            #expect(policy.output.contains("1.1-1"), "\(policy.output)")
            #expect(policy.output.contains("2:1.0"), "\(policy.output)")
            #expect(policy.output.contains("Candidate: 0.9"), "\(policy.output)")

            let download = await apt.run("apt-get", ["download", "hello=1.0-1", "hello-doc", "libgreet1"])
            #expect(download.status == 0, "apt-get download failed:\n\(download.output)\n\(download.stderr)")
            let fetched = try Data(contentsOf: URL(fileURLWithPath: apt.directory.file("download/hello_1.0-1_amd64.deb")))
            let original = try Data(contentsOf: URL(fileURLWithPath: fixture.debs + "/hello_1.0-1_amd64.deb"))
            #expect(fetched == original)
            #expect(FileManager.default.fileExists(atPath: apt.directory.file("download/hello-doc_2%3a1.0_all.deb")))

            // apt asked for by-hash names, and the pool follows Debian's layout (lib prefix, source name).
            let paths = gateway.accessLog.compactMap { $0["path"] as? String }
            #expect(paths.contains { $0.contains("/binary-amd64/by-hash/SHA256/") }, "\(paths)")
            #expect(paths.contains("/apt/pool/main/libg/libgreet/libgreet1_0.9_amd64.deb"), "\(paths)")
            #expect(paths.contains("/apt/pool/main/h/hello-doc/hello-doc_1.0_all.deb"), "\(paths)")
        }

        @Test("a folder that is not a package, or one whose control archive is cut, is left out with one log line each")
        func badPackagesLeftOut() async throws {
            let fixture = try Fixture()
            let gateway = try fixture.startGateway()
            let packages = await APTTool.curl(["--cacert", fixture.certificates.ca,
                                      gateway.url("https", "/apt/dists/stable/main/binary-amd64/Packages", scheme: "https", host: "localhost")])
            #expect(packages.status == 0)
            let names = packages.output.split(separator: "\n").filter { $0.hasPrefix("Package: ") }
            #expect(names.sorted() == ["Package: hello", "Package: hello", "Package: hello-doc", "Package: libgreet1"])
            #expect(gateway.waitForLog("not-a-package.deb"))
            let log = gateway.stderr.split(separator: "\n")
            #expect(log.filter { $0.contains("package left out") && $0.contains("not-a-package.deb") }.count == 1, "\(gateway.stderr)")
            #expect(log.filter { $0.contains("package left out") && $0.contains("truncated.deb") }.count == 1, "\(gateway.stderr)")
            // A second index read does not read (nor log) them again.
            _ = await APTTool.curl(["--cacert", fixture.certificates.ca, gateway.url("https", "/apt/dists/stable/InRelease", scheme: "https", host: "localhost")])
            #expect(gateway.stderr.split(separator: "\n").filter { $0.contains("package left out") }.count == 2)
        }

        @Test("InRelease verifies with gpgv and sqv, Release.gpg detached; a tampered Release fails")
        func signaturesVerify() async throws {
            let fixture = try Fixture()
            let gateway = try fixture.startGateway()
            let out = TemporaryDirectory("apt-sig")
            for name in ["InRelease", "Release", "Release.gpg"] {
                let result = await APTTool.curl(["--cacert", fixture.certificates.ca, "-o", out.file(name),
                                        gateway.url("https", "/apt/dists/stable/\(name)", scheme: "https", host: "localhost")])
                #expect(result.status == 0)
            }
            let gpgv = await APTTool.run("gpgv", ["--keyring", fixture.keyring, out.file("InRelease")])
            #expect(gpgv.status == 0, "\(gpgv.stderr)")
            // sqv takes detached signatures only: split InRelease as apt 3 does (apt.md §4.1).
            let inRelease = try String(contentsOfFile: out.file("InRelease"), encoding: .utf8)
            let parts = inRelease.components(separatedBy: "\n-----BEGIN PGP SIGNATURE-----")
            #expect(parts.count == 2)
            let body = parts[0].components(separatedBy: "\n\n").dropFirst().joined(separator: "\n\n")
            out.write("InRelease.content", body.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : String($0) }.joined(separator: "\n"))
            out.write("InRelease.sig", "-----BEGIN PGP SIGNATURE-----" + parts[1])
            let sqv = await APTTool.run("sqv", ["--keyring", fixture.keyring, out.file("InRelease.sig"), out.file("InRelease.content")])
            #expect(sqv.status == 0, "\(sqv.stderr)")
            let detached = await APTTool.run("gpgv", ["--keyring", fixture.keyring, out.file("Release.gpg"), out.file("Release")])
            #expect(detached.status == 0, "\(detached.stderr)")
            let detachedSQV = await APTTool.run("sqv", ["--keyring", fixture.keyring, out.file("Release.gpg"), out.file("Release")])
            #expect(detachedSQV.status == 0, "\(detachedSQV.stderr)")

            let release = try String(contentsOfFile: out.file("Release"), encoding: .utf8)
            #expect(release.contains("\nSHA256:\n"))
            #expect(!release.contains("MD5Sum:") && !release.contains("SHA512:"))
            #expect(release.contains("Acquire-By-Hash: yes"))
            #expect(release.contains("Architectures: amd64\n"))
            out.write("Release", release.replacingOccurrences(of: "Suite: stable", with: "Suite: stabl3"))
            let tampered = await APTTool.run("gpgv", ["--keyring", fixture.keyring, out.file("Release.gpg"), out.file("Release")])
            #expect(tampered.status != 0)

            // The public key is served anonymously in both forms.
            let key = await APTTool.curl(["--cacert", fixture.certificates.ca, gateway.url("https", "/apt/key.gpg", scheme: "https", host: "localhost")])
            #expect(key.stdout == Data(fixture.key.certificate.binary))
        }

        @Test("apt refuses the repository when Signed-By names another key")
        func wrongKeyRefused() async throws {
            let fixture = try Fixture()
            let gateway = try fixture.startGateway()
            let other = try OpenPGPSecretKey.generate(userID: "Someone else <other@example.com>", created: Date(timeIntervalSince1970: 1_700_000_000))
            let keyring = fixture.work.write("keys/other.gpg", Data(other.certificate.binary))
            let apt = fixture.client(gateway, keyring: keyring)
            let update = await apt.update()
            #expect(update.status != 0)
            #expect((update.output + update.stderr).contains("NO_PUBKEY") || (update.output + update.stderr).contains("not signed"),
                    "\(update.output)\n\(update.stderr)")
            let install = await apt.run("apt-get", ["download", "hello"])
            #expect(install.status != 0)
        }

        @Test("two gateways on the same folder serve byte-identical InRelease; paths outside the index are 404")
        func replicasAgree() async throws {
            let fixture = try Fixture()
            let first = try fixture.startGateway()
            let second = try fixture.startGateway()
            func fetch(_ gateway: GatewayProcess, _ path: String) async -> Tool.Result {
                await APTTool.curl(["--cacert", fixture.certificates.ca, "-w", "\n%{http_code}", gateway.url("https", path, scheme: "https", host: "localhost")])
            }
            let a = await fetch(first, "/apt/dists/stable/InRelease"), b = await fetch(second, "/apt/dists/stable/InRelease")
            #expect(a.output.hasSuffix("\n200"))
            #expect(a.stdout == b.stdout)
            for path in ["/apt/pool/main/h/hello/hello_9.9_amd64.deb", "/apt/dists/stable/main/binary-i386/Packages",
                         "/apt/pool/main/../../keys/signing.asc", "/apt/dists/other/InRelease"] {
                let answer = await fetch(first, path).output
                #expect(answer.hasSuffix("\n404") || answer.hasSuffix("\n400"), "\(path)")
            }
        }

        @Test("the default pipeline's example repository: update, both versions listed, the newest downloaded")
        func embeddedExample() async throws {
            let certificates = TestCertificates()
            let gateway = try GatewayProcess(config: """
                {"version": 1,
                 "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                                "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
                 "sources": {"apt-examples": {"type": "directory", "path": "\(Paths.root)/examples/apt/debs"}},
                 "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                    {"type": "log"},
                    {"type": "apt.repository", "source": "apt-examples", "signingKeyFile": "\(Paths.root)/examples/apt/keys/dev-signing.asc"},
                    {"type": "upstream"}]}}}
                """, directory: certificates.directory)
            // The README fetches the key from the gateway; it equals the one checked in.
            let key = await APTTool.curl(["--cacert", certificates.ca, gateway.url("https", "/apt/key.gpg", scheme: "https", host: "localhost")])
            let keyring = certificates.directory.write("example.gpg", key.stdout)
            #expect(key.stdout == (try Data(contentsOf: URL(fileURLWithPath: Paths.root + "/examples/apt/keys/dev-signing.pub.gpg"))))
            let apt = APTClient(uri: "https://localhost:\(gateway.port("https"))/apt/", keyring: keyring, caFile: certificates.ca)
            let update = await apt.update()
            #expect(update.status == 0 && APTClient.problems(update).isEmpty, "\(update.output)\n\(update.stderr)")
            let policy = await apt.run("apt-cache", ["policy", "hello-gateway"])
            #expect(policy.output.contains("Candidate: 1.1.0") && policy.output.contains("1.0.0"), "\(policy.output)")
            let download = await apt.run("apt-get", ["download", "hello-gateway"])
            #expect(download.status == 0, "\(download.output)\n\(download.stderr)")
            #expect(FileManager.default.fileExists(atPath: apt.directory.file("download/hello-gateway_1.1.0_all.deb")))
        }

        @Test("gateway apt index writes a repository that apt installs from when served as plain files")
        func offlineIndex() async throws {
            let fixture = try Fixture()
            let out = TemporaryDirectory("apt-index")
            let result = await APTTool.run(Paths.gateway, ["apt", "index", fixture.debs, "--out", out.file("site/apt"), "--key", fixture.keyFile])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.output.contains("4 packages"), "\(result.output)")
            #expect(FileManager.default.fileExists(atPath: out.file("site/apt/pool/main/h/hello/hello_1.1-1_amd64.deb")))
            let gateway = try GatewayProcess(config: """
                {"version": 1,
                 "listeners": [{"name": "https", "listen": "127.0.0.1:0",
                                "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}}],
                 "stacks": {"site": {"chain": [{"type": "files", "root": "\(out.file("site"))"}]}}}
                """, directory: fixture.certificates.directory)
            let apt = fixture.client(gateway)
            let update = await apt.update()
            #expect(update.status == 0 && APTClient.problems(update).isEmpty, "\(update.output)\n\(update.stderr)")
            let download = await apt.run("apt-get", ["download", "hello=1.1-1"])
            #expect(download.status == 0, "\(download.output)\n\(download.stderr)")

            // A configured directory source gives the same repository as its folder.
            out.write("pipeline.json", "{\"version\": 1, \"sources\": {\"debs\": {\"type\": \"directory\", \"path\": \"\(fixture.debs)\"}}}")
            let configured = await APTTool.run(Paths.gateway, ["apt", "index", "--config", out.file("pipeline.json"), "--source", "debs", "--out", out.file("again"),
                                                      "--key", fixture.keyFile, "--no-pool"])
            #expect(configured.status == 0, "\(configured.stderr)")
            #expect(FileManager.default.contents(atPath: out.file("again/dists/stable/InRelease")) != nil)
            #expect(FileManager.default.contents(atPath: out.file("again/dists/stable/InRelease"))
                    == FileManager.default.contents(atPath: out.file("site/apt/dists/stable/InRelease")))

            // The same folder gives the same InRelease as the gateway serves.
            let served = try fixture.startGateway()
            let inRelease = await APTTool.curl(["--cacert", fixture.certificates.ca,
                                       served.url("https", "/apt/dists/stable/InRelease", scheme: "https", host: "localhost")])
            #expect(inRelease.stdout == (try Data(contentsOf: URL(fileURLWithPath: out.file("site/apt/dists/stable/InRelease")))))
        }

        @Test("a .deb larger than 2 GiB (sparse) is listed with its size and streamed whole and in ranges in bounded memory")
        func largePackage() async throws {
            let fixture = try Fixture()
            // A real package's debian-binary and control members, then a data.tar member of 2.3 GB of holes.
            let small = try Data(contentsOf: URL(fileURLWithPath: DebBuilder.build(name: "big", version: "1.0", into: fixture.work.file("small"))))
            let dataHeader = try #require(small.range(of: Data("data.tar".utf8)))
            let dataSize: Int64 = 2_148_000_000  // just over 2 GiB: offsets and sizes past Int32
            var header = Data("data.tar".utf8) + Data(repeating: 0x20, count: 8)
            header += Data("0           0     0     100644  \(dataSize)`\n".utf8)
            #expect(header.count == 60)
            let folder = fixture.work.file("large")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/big_1.0_amd64.deb"
            try (small.prefix(upTo: dataHeader.lowerBound) + header).write(to: URL(fileURLWithPath: path))
            let total = Int64(dataHeader.lowerBound) + 60 + dataSize
            #expect(truncate(path, off_t(total)) == 0)

            let gateway = try GatewayProcess(config: """
                {"version": 1,
                 "listeners": [{"name": "http", "listen": "127.0.0.1:0"}],
                 "sources": {"debs": {"type": "directory", "path": "\(folder)"}},
                 "stacks": {"apt": {"match": {"pathPrefix": ["/apt/"]}, "chain": [
                    {"type": "apt.repository", "source": "debs", "signingKeyFile": "\(fixture.keyFile)"},
                    {"type": "upstream"}]}}}
                """)
            let packages = await APTTool.curl([gateway.url("http", "/apt/dists/stable/main/binary-amd64/Packages")], timeout: 300)
            #expect(packages.output.contains("Package: big\n"), "\(packages.output)")
            #expect(packages.output.contains("Size: \(total)\n"), "\(packages.output)")
            let url = gateway.url("http", "/apt/pool/main/b/big/big_1.0_amd64.deb")
            let whole = await APTTool.curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", url], timeout: 600)
            #expect(whole.output == "200 \(total)")
            let tail = await APTTool.curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-H", "Range: bytes=\(total - 10)-", url])
            #expect(tail.output == "206 10")
            // The peak resident size stays far below the file's size.
            let status = try String(contentsOfFile: "/proc/\(gateway.process.pid)/status", encoding: .utf8)
            let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? Int.max
            #expect(peak < 300_000, "peak resident size \(peak) kB")
        }
    }
}
