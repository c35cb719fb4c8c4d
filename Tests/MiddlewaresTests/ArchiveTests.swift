import Foundation
import Pipeline
import Testing
@testable import Middlewares

@Suite("tar re-rooting and zip hashing")
struct ArchiveTests {
    /// A GitHub-style tarball made by `git archive`: pax global header with the commit, one top directory.
    static func gitArchive(_ files: [String: String]) throws -> (tarGz: [UInt8], dir: String) {
        let dir = NSTemporaryDirectory() + "rerooter-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            let path = dir + "/repo/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        func git(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            p.arguments = ["-C", dir + "/repo", "-c", "user.email=t@example.com", "-c", "user.name=t"] + args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "git \(args)")
        }
        try git(["init", "-q"])
        try git(["add", "."])
        try git(["commit", "-q", "-m", "x"])
        try git(["archive", "--format=tar.gz", "--prefix=acme-terraform-aws-vpc-abc1234/", "-o", dir + "/out.tar.gz", "HEAD"])
        return (Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.tar.gz"))), dir)
    }

    static func reroot(_ tarGz: [UInt8], chunk: Int) throws -> [UInt8] {
        let inflater = try Inflater(.gzip)
        var rerooter = TarRerooter()
        var tar: [UInt8] = []
        var i = 0
        while i < tarGz.count {
            try inflater.inflate(tarGz[i..<min(i + chunk, tarGz.count)]) { tar += try rerooter.feed($0) }
            i += chunk
        }
        #expect(rerooter.isComplete)
        return tar
    }

    static func listing(_ tar: [UInt8], in dir: String) throws -> [String] {
        let path = dir + "/rerooted.tar"
        try Data(tar).write(to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        p.arguments = ["-tf", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init).sorted()
    }

    @Test("a git archive loses its top directory, whatever the chunk size", arguments: [1, 7, 512, 4096, 1 << 20])
    func rerootsGitArchive(chunk: Int) throws {
        let long = String(repeating: "deep/", count: 30) + "file.tf"
        let (tarGz, dir) = try Self.gitArchive(["main.tf": "a", "modules/sub/main.tf": "b", long: "c"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = try Self.listing(try Self.reroot(tarGz, chunk: chunk), in: dir)
        #expect(names.contains("main.tf"))
        #expect(names.contains("modules/sub/main.tf"))
        #expect(names.contains(long))
        #expect(!names.contains { $0.hasPrefix("acme-terraform-aws-vpc-abc1234") })
    }

    @Test("entries outside the single top directory are refused")
    func refusesSecondTopDirectory() throws {
        var header1 = TarHeader(name: "top/", size: 0, mode: 0o755, isDirectory: true)
        header1.updateChecksum()
        var header2 = TarHeader(name: "other/evil.tf", size: 0, mode: 0o644, isDirectory: false)
        header2.updateChecksum()
        var rerooter = TarRerooter()
        #expect(throws: ArchiveError.self) { _ = try rerooter.feed(header1.block + header2.block) }
    }

    @Test("dot-dot paths are refused")
    func refusesTraversal() throws {
        var header = TarHeader(name: "top/../../etc/passwd", size: 0, mode: 0o644, isDirectory: false)
        header.updateChecksum()
        var rerooter = TarRerooter()
        #expect(throws: ArchiveError.self) { _ = try rerooter.feed(header.block) }
    }

    static func entry(_ name: String, type: Character, link: String = "") -> [UInt8] {
        var header = TarHeader(name: name, size: 0, mode: 0o644, isDirectory: false)
        header.block[156] = type.asciiValue!
        _ = header.setLinkName(link)
        header.updateChecksum()
        return header.block
    }

    @Test("symbolic links that leave the re-rooted tree, devices and FIFOs are dropped; links inside it stay")
    func dropsEscapingLinks() throws {
        let dir = NSTemporaryDirectory() + "rerooter-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tar = Self.entry("top/main.tf", type: "0")
            + Self.entry("top/sub/ok.tf", type: "2", link: "../main.tf")
            + Self.entry("top/same.tf", type: "2", link: "./main.tf")
            + Self.entry("top/passwd", type: "2", link: "/etc/passwd")
            + Self.entry("top/sub/up.tf", type: "2", link: "../../outside.tf")
            + Self.entry("top/dev", type: "3") + Self.entry("top/fifo", type: "6")
            + [UInt8](repeating: 0, count: 1024)
        var rerooter = TarRerooter()
        let names = try Self.listing(try rerooter.feed(tar), in: dir)
        #expect(names == ["main.tf", "same.tf", "sub/ok.tf"])

        // Re-rooted at a module folder, a link to a sibling of that folder now points above it.
        let mono = Self.entry("top/modules/vpc/main.tf", type: "0")
            + Self.entry("top/modules/vpc/shared.tf", type: "2", link: "../../shared.tf")
            + Self.entry("top/modules/vpc/local.tf", type: "2", link: "main.tf")
            + [UInt8](repeating: 0, count: 1024)
        var module = TarRerooter(subdirectory: "modules/vpc")
        #expect(try Self.listing(try module.feed(mono), in: dir) == ["local.tf", "main.tf"])
    }

    @Test("h1 of the example provider zip equals the hash Terraform 1.0.3 wrote to its lock file")
    func hash1MatchesTerraform() throws {
        let path = Paths.root + "/examples/registry/providers/acme/hello/1.0.0/terraform-provider-hello_1.0.0_linux_amd64.zip"
        let zip = try ZipArchive(file: try #require(OpenFile(path: path)))
        #expect(try ProviderHashes.hash1(zip) == "h1:zs0Y+eo+kLdq5h9v2mQFMI889yjLsenJ2Dh6LiyMKu8=")
    }

    @Test("a zip entry that inflates past its declared size is refused")
    func zipBomb() throws {
        // One stored entry whose declared size is smaller than its data.
        let name = Array("a".utf8)
        var local: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        local += [4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0] + name + Array("abcd".utf8)
        let central: [UInt8] = [0x50, 0x4B, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                4, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + name
        let end: [UInt8] = [0x50, 0x4B, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0, UInt8(central.count), 0, 0, 0, UInt8(local.count), 0, 0, 0, 0, 0]
        let path = NSTemporaryDirectory() + "bomb-\(UUID().uuidString).zip"
        try Data(local + central + end).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let zip = try ZipArchive(file: try #require(OpenFile(path: path)))
        #expect(throws: ArchiveError.self) { try zip.read(zip.entries[0]) { _ in } }
    }

    @Test("the example signing key's ID is the one gpg reports")
    func keyID() throws {
        let armor = try String(contentsOfFile: Paths.root + "/examples/registry/keys/acme-signing.asc", encoding: .utf8)
        #expect(OpenPGPArmor.keyID(ofArmoredPublicKey: armor) == "D1F7A7A23B21E1D4")
    }

    @Test("a goreleaser SHA256SUMS becomes a release with its platforms and protocols")
    func release() {
        let sums = """
            \(String(repeating: "a", count: 64))  terraform-provider-foo_1.2.3_linux_amd64.zip
            \(String(repeating: "b", count: 64))  terraform-provider-foo_1.2.3_darwin_arm64.zip
            \(String(repeating: "c", count: 64))  terraform-provider-foo_1.2.3_manifest.json
            """
        let files = ["terraform-provider-foo_1.2.3_linux_amd64.zip", "terraform-provider-foo_1.2.3_darwin_arm64.zip",
                     "terraform-provider-foo_1.2.3_SHA256SUMS", "terraform-provider-foo_1.2.3_SHA256SUMS.sig"]
        let release = ProviderRelease.from(type: "foo", ref: "v1.2.3", files: files, shasums: Array(sums.utf8),
                                           manifest: Array(#"{"version":1,"metadata":{"protocol_versions":["6.0"]}}"#.utf8))
        #expect(release?.version.description == "1.2.3")
        #expect(release?.protocols == ["6.0"])
        #expect(release?.packages.map { "\($0.os)_\($0.arch)" } == ["darwin_arm64", "linux_amd64"])
        #expect(release?.signatureFilename == "terraform-provider-foo_1.2.3_SHA256SUMS.sig")
    }
}

enum Paths {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
}
