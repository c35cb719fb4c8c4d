import Pipeline

/// A provider release folder in the goreleaser layout (terraform.md §3.3), as `gateway oci push`
/// reads it: `terraform-provider-<type>_<version>_<os>_<arch>.zip` files, `…_SHA256SUMS`, its
/// detached signature `…_SHA256SUMS.sig` and `…_manifest.json`. Every zip must match its SHA256SUMS
/// line; with keys, the signature must verify.
public struct ProviderReleaseFolder: Sendable {
    public struct File: Sendable {
        public let name: String
        public let bytes: [UInt8]
    }

    public let type: String
    public let version: String
    public let packages: [OCIPusher.Package]
    public let shasums: File
    public let signature: File?
    public let manifest: File?

    /// The largest file read (zips are read whole).
    public static let maxFileBytes = 1 << 30

    /// Reads the release in `path`; throws a one-line reason when it is not one.
    public static func load(_ path: String) throws -> ProviderReleaseFolder {
        let directory: DirectoryHandle
        do {
            directory = try DirectoryHandle(path: path)
        } catch {
            throw PushError("cannot open \(path): \(error)")
        }
        let names = (directory.entries(".", recursive: false) ?? []).filter { $0.status.kind == .file }.map(\.path)
        let sums = names.filter { $0.hasPrefix("terraform-provider-") && $0.hasSuffix("_SHA256SUMS") }
        guard sums.count == 1, let sumsName = sums.first else {
            throw PushError(sums.isEmpty ? "no terraform-provider-<type>_<version>_SHA256SUMS in \(path)"
                                         : "more than one SHA256SUMS in \(path): one release per folder")
        }
        // terraform-provider-<type>_<version>_SHA256SUMS
        let middle = sumsName.dropFirst("terraform-provider-".count).dropLast("_SHA256SUMS".count)
        guard let underscore = middle.firstIndex(of: "_") else { throw PushError("\(sumsName) names no version") }
        let type = String(middle[..<underscore])
        let version = String(middle[middle.index(after: underscore)...])
        guard Semver(strict: version) != nil else { throw PushError("\(sumsName): \"\(version)\" is not a semantic version") }
        func read(_ name: String) throws -> [UInt8] {
            guard case .file(let file) = directory.open(name) else { throw PushError("cannot read \(name)") }
            guard file.size <= Int64(maxFileBytes) else { throw PushError("\(name) is over \(maxFileBytes >> 20) MiB") }
            return try file.read(at: 0, count: Int(file.size))
        }
        let sumsBytes = try read(sumsName)
        let prefix = "terraform-provider-\(type)_\(version)_"
        var packages: [OCIPusher.Package] = []
        for (name, sum) in ShasumsFile.parse(sumsBytes) where name.hasPrefix(prefix) && name.hasSuffix(".zip") {
            let platform = name.dropFirst(prefix.count).dropLast(4).split(separator: "_")
            guard platform.count == 2 else { continue }
            guard names.contains(name) else { throw PushError("\(name) is listed in \(sumsName) but missing") }
            let zip = try read(name)
            guard Hex.encode(Digest.sha256(zip)) == sum else { throw PushError("\(name) does not match its line in \(sumsName)") }
            packages.append(OCIPusher.Package(os: String(platform[0]), arch: String(platform[1]), filename: name, zip: zip))
        }
        guard !packages.isEmpty else { throw PushError("\(sumsName) lists no \(prefix)<os>_<arch>.zip") }
        let signatureName = sumsName + ".sig"
        let manifestName = prefix + "manifest.json"
        return ProviderReleaseFolder(
            type: type, version: version, packages: packages.sorted { ($0.os, $0.arch) < ($1.os, $1.arch) },
            shasums: File(name: sumsName, bytes: sumsBytes),
            signature: names.contains(signatureName) ? File(name: signatureName, bytes: try read(signatureName)) : nil,
            manifest: names.contains(manifestName) ? File(name: manifestName, bytes: try read(manifestName)) : nil)
    }

    /// Checks the SHA256SUMS signature against `keys` (armored or binary OpenPGP public keys);
    /// returns the signing key's fingerprint.
    public func verifySignature(keys: [[UInt8]]) throws -> String {
        guard let signature else { throw PushError("\(shasums.name).sig is missing, so the sums cannot be checked") }
        do {
            return try OpenPGPVerifier(keys: keys).verify(signature: signature.bytes, over: shasums.bytes).signingKeyFingerprint
        } catch {
            throw PushError("the signature of \(shasums.name) does not verify: \(error)")
        }
    }

    /// The files that go beside the packages: the sums, their signature, the manifest.
    public var signedFiles: [File] { [shasums] + [signature, manifest].compactMap { $0 } }
}
