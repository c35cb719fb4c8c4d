import Foundation
import Pipeline
import Testing
@testable import Middlewares

/// The APT repository's parts without sockets: compression, ar and tar readers, control data,
/// pool paths and the rendered, signed index.
@Suite("apt repository parts")
struct APTTests {
    // MARK: Building a .deb in memory

    static func tar(_ files: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, text) in files {
            let bytes = Array(text.utf8)
            out += TarHeader(name: name, size: bytes.count, mode: 0o644, isDirectory: false).block
            out += bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }

    static func arMember(_ name: String, _ data: [UInt8]) -> [UInt8] {
        func field(_ text: String, _ width: Int) -> [UInt8] { Array(text.utf8) + [UInt8](repeating: 0x20, count: width - text.utf8.count) }
        var out = field(name, 16) + field("0", 12) + field("0", 6) + field("0", 6) + field("100644", 8) + field(String(data.count), 10)
        out += Array("`\n".utf8) + data
        if data.count % 2 == 1 { out.append(0x0A) }
        return out
    }

    static let control = """
        Package: hello
        Version: 1:2.0-1
        Architecture: amd64
        Maintainer: Tests <t@example.com>
        Description: greets
         A longer text.
         .
         - with a dash

        """

    static func deb(control: String = control, controlName: String = "control.tar.gz") throws -> [UInt8] {
        let tar = Self.tar([("./control", control), ("./md5sums", "")])
        let compressed: [UInt8]
        switch controlName {
        case "control.tar.gz":
            let gzip = try Deflater()
            compressed = gzip.deflate(tar) + gzip.finish()
        case "control.tar.xz": compressed = try XZEncoder.compress(tar)
        default: compressed = tar
        }
        return ArArchive.magic + arMember("debian-binary", Array("2.0\n".utf8)) + arMember(controlName, compressed)
            + arMember("data.tar.xz", try XZEncoder.compress(Array("data".utf8)))
    }

    // MARK: Compression and archives

    @Test("xz round-trips, is deterministic, and refuses truncated data and outputs over the limit")
    func xz() throws {
        let input = Array(String(repeating: "Package: hello\n", count: 500).utf8)
        let packed = try XZEncoder.compress(input)
        #expect(packed.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]))
        #expect(try XZEncoder.compress(input) == packed)
        #expect(try XZDecoder.decompress(packed, limit: 1 << 20) == input)
        #expect(throws: CompressionError.self) { try XZDecoder.decompress(Array(packed.dropLast(8)), limit: 1 << 20) }
        #expect(throws: CompressionError.self) { try XZDecoder.decompress(packed, limit: 100) }
    }

    @Test("zstd frames decode (made by the zstd tool); a cut frame is refused")
    func zstd() throws {
        let frame: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x31, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x53, 0x88, 0xbd, 0x91]
        #expect(Decompression.sniff(frame) == .zstd)
        #expect(try ZstdDecoder.decompress(frame, limit: 100) == Array("hello\n".utf8))
        #expect(throws: CompressionError.self) { try ZstdDecoder.decompress(Array(frame.dropLast(6)), limit: 100) }
    }

    @Test("ar members are listed from a prefix, names with a trailing slash, odd sizes padded")
    func arArchive() throws {
        let bytes = ArArchive.magic + Self.arMember("debian-binary/", Array("2.0\n".utf8)) + Self.arMember("control.tar", [1, 2, 3])
            + Self.arMember("data.tar", [9])
        let members = try ArArchive.members(in: bytes, fileSize: Int64(bytes.count))
        #expect(members.map(\.name) == ["debian-binary", "control.tar", "data.tar"])
        #expect(members[1].offset == 8 + 60 + 4 + 60 && members[1].size == 3)
        #expect(members[2].offset == members[1].offset + 4 + 60)
        // Only the headers within the prefix are listed.
        #expect(try ArArchive.members(in: Array(bytes.prefix(8 + 60 + 4 + 30)), fileSize: Int64(bytes.count)).count == 1)
        #expect(throws: ArArchive.FormatError.self) { try ArArchive.members(in: Array("not an archive".utf8), fileSize: 14) }
        // A member claiming more bytes than the file has.
        #expect(throws: ArArchive.FormatError.self) { try ArArchive.members(in: bytes, fileSize: Int64(bytes.count - 10)) }
    }

    @Test("tar: ./control is found; a cut archive and a bad checksum are refused")
    func tarReader() throws {
        let tar = Self.tar([("./md5sums", "x"), ("./control", "Package: a\n")])
        #expect(try TarReader.file("control", in: tar) == Array("Package: a\n".utf8))
        #expect(try TarReader.file("postinst", in: tar) == nil)
        #expect(throws: TarReader.FormatError.self) { try TarReader.file("control", in: Array(tar.prefix(700))) }
        var bad = tar
        bad[0] ^= 0x01
        #expect(throws: TarReader.FormatError.self) { try TarReader.file("control", in: bad) }
    }

    // MARK: Control data

    @Test("control data is read from gz and xz control archives, with a second read when the first is short")
    func debControl() throws {
        for name in ["control.tar.gz", "control.tar.xz", "control.tar"] {
            let deb = try Self.deb(controlName: name)
            guard case .control(let stanza) = try DebControlReader.read(prefix: deb, fileSize: Int64(deb.count)) else {
                Issue.record("\(name): no control")
                continue
            }
            #expect(stanza["Package"] == "hello")
            #expect(stanza["description"] == "greets\n A longer text.\n .\n - with a dash")
        }
        let deb = try Self.deb()
        guard case .needBytes(let count) = try DebControlReader.read(prefix: Array(deb.prefix(100)), fileSize: Int64(deb.count)) else {
            Issue.record("a short prefix must ask for more")
            return
        }
        #expect(count > 100 && count <= deb.count)
        #expect(throws: DebControlReader.NotADeb.self) { try DebControlReader.read(prefix: Array("!<arch>\nbroken".utf8), fileSize: 14) }
    }

    @Test("a control file's text is kept as written; a duplicate field or a stray continuation is refused")
    func controlStanza() throws {
        let stanza = try ControlStanza(parsing: Self.control)
        #expect(stanza.text == Self.control)
        #expect(throws: ControlStanza.FormatError.self) { try ControlStanza(parsing: "Package: a\npackage: b\n") }
        #expect(throws: ControlStanza.FormatError.self) { try ControlStanza(parsing: " continuation\nPackage: a\n") }
    }

    @Test("pool paths follow Debian: source name, lib prefix, no epoch; names that could steer a path are refused")
    func poolPaths() throws {
        func package(_ text: String, component: String = "main") throws -> APTPackage {
            let control = try ControlStanza(parsing: text)
            try APTPackage.validate(control)
            return APTPackage(control: control, size: 1, sha256: "", component: component, location: "", label: "", time: 0)
        }
        #expect(try package(Self.control).poolPath == "pool/main/h/hello/hello_2.0-1_amd64.deb")
        #expect(try package("Package: libfoo1\nSource: libfoo (1.2)\nVersion: 1.2\nArchitecture: arm64\n").poolPath
                == "pool/main/libf/libfoo/libfoo1_1.2_arm64.deb")
        for bad in ["Package: ../etc\nVersion: 1\nArchitecture: all\n", "Package: a\nVersion: 1/../../x\nArchitecture: all\n",
                    "Package: a\nVersion: 1\nArchitecture: ../x\n", "Package: a\nArchitecture: all\n", "Package: a\nSource: ../b\nVersion: 1\nArchitecture: all\n"] {
            #expect(throws: APTPackage.Invalid.self, "\(bad)") { _ = try package(bad) }
        }
    }

    // MARK: The index

    @Test("a Release lists the SHA256 and size of every Packages file; all packages go to every architecture; output is deterministic")
    func renderer() throws {
        let key = try OpenPGPSecretKey.generate(userID: "t <t@example.com>", created: Date(timeIntervalSince1970: 1_700_000_000))
        let renderer = APTIndexRenderer(shape: APTRepositoryShape(), signer: OpenPGPSigner(key: key))
        func package(_ name: String, _ version: String, _ arch: String) throws -> APTPackage {
            APTPackage(control: try ControlStanza(parsing: "Package: \(name)\nVersion: \(version)\nArchitecture: \(arch)\n"), size: 10,
                       sha256: String(repeating: "a", count: 64), component: "main", location: name, label: name, time: 1_700_000_100)
        }
        let packages = [try package("a", "1", "amd64"), try package("a", "2", "amd64"), try package("b", "1", "arm64"), try package("doc", "1", "all")]
        let index = try renderer.render(packages, date: 1_700_000_100)
        #expect(index.release.contains("Architectures: amd64 arm64\n"))
        #expect(index.release.contains("Date: Tue, 14 Nov 2023 22:15:00 +0000\n"))
        for arch in ["amd64", "arm64"] {
            for name in ["Packages", "Packages.gz", "Packages.xz"] {
                let file = try #require(index.files["dists/stable/main/binary-\(arch)/\(name)"])
                let digest = Hex.encode(Digest.sha256(file.bytes))
                #expect(index.release.contains(" \(digest) ") && index.release.contains("main/binary-\(arch)/\(name)\n"))
                #expect(index.files["dists/stable/main/binary-\(arch)/by-hash/SHA256/\(digest)"]?.bytes == file.bytes)
            }
        }
        let amd64 = String(decoding: index.files["dists/stable/main/binary-amd64/Packages"]!.bytes, as: UTF8.self)
        #expect(amd64.components(separatedBy: "Package: ").count - 1 == 3, "a 1, a 2 and doc")
        #expect(amd64.contains("Filename: pool/main/d/doc/doc_1_all.deb\nSize: 10\nSHA256: "))
        #expect(try XZDecoder.decompress(index.files["dists/stable/main/binary-amd64/Packages.xz"]!.bytes, limit: 1 << 20) == Array(amd64.utf8))
        let again = try renderer.render(packages.reversed(), date: 1_700_000_100)
        #expect(again.files["dists/stable/InRelease"]?.bytes == index.files["dists/stable/InRelease"]?.bytes)
        #expect(String(decoding: index.files["dists/stable/InRelease"]!.bytes, as: UTF8.self).hasPrefix("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: gateway\n"))
    }

    @Test("request paths: . parts dropped, .. refused")
    func cleanPaths() throws {
        #expect(try APTRepository.clean("stable/./main/binary-amd64/Packages") == "stable/main/binary-amd64/Packages")
        #expect(throws: HTTPError.self) { try APTRepository.clean("stable/../../keys/x") }
    }
}
