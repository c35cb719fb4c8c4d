import Foundation
import Pipeline

/// A complete, signed repository as clients see it: every file under `dists/` (Release,
/// InRelease, Release.gpg, Packages in three compressions and their by-hash names) and the
/// packages by pool path. Built whole by `APTIndexRenderer` and swapped in at once, so a request
/// never sees half of one.
struct APTIndex: Sendable {
    /// A file of the index: its bytes and whether its name is content-addressed (by-hash).
    struct File: Sendable {
        let bytes: [UInt8]
        let etag: String
        let immutable: Bool

        init(_ bytes: [UInt8], immutable: Bool = false) {
            self.bytes = bytes
            etag = "\"" + Hex.encode(Digest.sha256(bytes).prefix(16)) + "\""
            self.immutable = immutable
        }
    }

    /// By path relative to the repository root: `dists/stable/InRelease`.
    let files: [String: File]
    /// By pool path: `pool/main/h/hello/hello_1.0-1_amd64.deb`.
    let pool: [String: APTPackage]
    /// The Release's Date, seconds since 1970 (also Last-Modified of the dists files).
    let date: Int64
    /// The Release text (what InRelease signs).
    let release: String
}

/// What a Release says about the repository; fixed by configuration (apt.md §0 rule 4: Origin,
/// Label and Codename must never change once clients have the repository).
struct APTRepositoryShape: Sendable {
    var suite = "stable"
    var components = ["main"]
    /// Nil: the architectures of the packages found.
    var architectures: [String]?
    var origin = "gateway"
    var label = "gateway"
    var codename: String?
    var description: String?
}

/// Renders packages into an `APTIndex`: Packages per component and architecture (arch `all`
/// packages copied into each, apt.md §0 rule 12), compressed with gzip and xz, a Release listing
/// SHA256 only (rules 1 and 2) with Acquire-By-Hash, signed as InRelease and Release.gpg. Pure
/// and deterministic: the same packages, date and key give the same bytes on every replica.
struct APTIndexRenderer: Sendable {
    let shape: APTRepositoryShape
    let signer: OpenPGPSigner

    /// Architectures listed when none are configured and no package names one (only `all` packages).
    static let fallbackArchitectures = ["amd64", "arm64"]

    /// `packages` must already be validated and deduplicated by pool path.
    func render(_ packages: [APTPackage], date: Int64, keepingByHash previous: [String: APTIndex.File] = [:]) throws -> APTIndex {
        let found = Set(packages.map(\.architecture)).subtracting(["all"]).sorted()
        let architectures = shape.architectures ?? (found.isEmpty ? Self.fallbackArchitectures : found)
        let sorted = packages.sorted { ($0.name, $0.version, $0.architecture, $0.poolPath) < ($1.name, $1.version, $1.architecture, $1.poolPath) }
        var files: [String: APTIndex.File] = [:]
        var hashed: [(path: String, size: Int, sha256: String)] = []
        let dists = "dists/\(shape.suite)/"
        for component in shape.components {
            for architecture in architectures {
                let stanzas = sorted.filter { $0.component == component && ($0.architecture == architecture || $0.architecture == "all") }.map(\.stanza)
                let plain = Array(stanzas.joined(separator: "\n").utf8)
                let directory = "\(component)/binary-\(architecture)/"
                let gzip = try Deflater(level: 9)
                let variants: [(String, [UInt8])] = [
                    ("Packages", plain),
                    ("Packages.gz", gzip.deflate(plain) + gzip.finish()),
                    ("Packages.xz", try XZEncoder.compress(plain)),
                ]
                for (name, bytes) in variants {
                    let digest = Hex.encode(Digest.sha256(bytes))
                    let file = APTIndex.File(bytes)
                    files[dists + directory + name] = file
                    files[dists + directory + "by-hash/SHA256/" + digest] = APTIndex.File(bytes, immutable: true)
                    hashed.append((directory + name, bytes.count, digest))
                }
            }
        }
        // Clients holding the previous InRelease still find the indices it names (apt.md §1.3).
        for (path, file) in previous where files[path] == nil { files[path] = file }

        var release = ""
        release += "Origin: \(shape.origin)\n"
        release += "Label: \(shape.label)\n"
        release += "Suite: \(shape.suite)\n"
        release += "Codename: \(shape.codename ?? shape.suite)\n"
        release += "Date: \(Self.releaseDate(date))\n"
        release += "Acquire-By-Hash: yes\n"
        release += "Architectures: \(architectures.joined(separator: " "))\n"
        release += "Components: \(shape.components.joined(separator: " "))\n"
        if let description = shape.description { release += "Description: \(description)\n" }
        release += "SHA256:\n"
        for entry in hashed {
            let size = String(entry.size)
            release += " \(entry.sha256) \(String(repeating: " ", count: max(0, 16 - size.count)))\(size) \(entry.path)\n"
        }
        let time = Date(timeIntervalSince1970: TimeInterval(date))
        files[dists + "Release"] = APTIndex.File(Array(release.utf8))
        files[dists + "InRelease"] = APTIndex.File(Array(try signer.clearsign(release, at: time).utf8))
        files[dists + "Release.gpg"] = APTIndex.File(Array(try signer.sign(Array(release.utf8), at: time).armored.utf8))
        return APTIndex(files: files, pool: Dictionary(packages.map { ($0.poolPath, $0) }, uniquingKeysWith: { first, _ in first }),
                        date: date, release: release)
    }

    /// RFC 2822 with `+0000`, as the Debian wiki recommends: `Sat, 05 Dec 2026 07:18:15 +0000`.
    static func releaseDate(_ seconds: Int64) -> String {
        let http = HTTPDate.format(seconds)
        return http.hasSuffix(" GMT") ? String(http.dropLast(4)) + " +0000" : http
    }
}
