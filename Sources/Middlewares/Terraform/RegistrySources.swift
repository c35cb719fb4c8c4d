import Pipeline

/// A module as Terraform addresses it: `namespace/name/system`.
public struct ModuleAddress: Sendable, Hashable, CustomStringConvertible {
    public let namespace: String
    public let name: String
    public let system: String

    public init(namespace: String, name: String, system: String) {
        self.namespace = namespace
        self.name = name
        self.system = system
    }

    public var description: String { "\(namespace)/\(name)/\(system)" }
}

/// A provider as Terraform addresses it (the hostname is the gateway's): `namespace/type`.
public struct ProviderAddress: Sendable, Hashable, CustomStringConvertible {
    public let namespace: String
    public let type: String

    public init(namespace: String, type: String) {
        self.namespace = namespace
        self.type = type
    }

    public var description: String { "\(namespace)/\(type)" }
}

/// One platform package of a provider release.
public struct ProviderPackage: Sendable, Hashable {
    public let os: String
    public let arch: String
    public let filename: String
    /// Lower-case hex sha256 of the zip, from SHA256SUMS (the `zh:` hash).
    public let shasum: String
}

/// A provider release in the goreleaser layout (terraform.md §3.3).
public struct ProviderRelease: Sendable {
    public let version: Semver
    /// The tag or folder it came from.
    public let ref: String
    public let protocols: [String]
    public let packages: [ProviderPackage]
    public let shasumsFilename: String
    public let signatureFilename: String?
    /// Every file of the release a client may fetch (zips, SHA256SUMS, its signature).
    public var files: Set<String> {
        var names = Set(packages.map(\.filename))
        names.insert(shasumsFilename)
        if let signatureFilename { names.insert(signatureFilename) }
        return names
    }

    public init(version: Semver, ref: String, protocols: [String], packages: [ProviderPackage], shasumsFilename: String,
                signatureFilename: String?) {
        self.version = version
        self.ref = ref
        self.protocols = protocols
        self.packages = packages
        self.shasumsFilename = shasumsFilename
        self.signatureFilename = signatureFilename
    }

    /// Builds a release from a goreleaser SHA256SUMS document, the names of the files present and
    /// the manifest (if any). Nil when the files do not form a release of `type`.
    public static func from(type: String, ref: String, files: [String], shasums: [UInt8], manifest: [UInt8]?) -> ProviderRelease? {
        let prefix = "terraform-provider-\(type)_"
        guard let shasumsName = files.first(where: { $0.hasPrefix(prefix) && $0.hasSuffix("_SHA256SUMS") }) else { return nil }
        let versionText = shasumsName.dropFirst(prefix.count).dropLast("_SHA256SUMS".count)
        guard let version = Semver(strict: versionText) else { return nil }
        let sums = ShasumsFile.parse(shasums)
        var packages: [ProviderPackage] = []
        for (name, sum) in sums where name.hasPrefix(prefix + versionText + "_") && name.hasSuffix(".zip") && files.contains(name) {
            let platform = name.dropFirst(prefix.count + versionText.count + 1).dropLast(4).split(separator: "_")
            guard platform.count == 2 else { continue }
            packages.append(ProviderPackage(os: String(platform[0]), arch: String(platform[1]), filename: name, shasum: sum))
        }
        guard !packages.isEmpty else { return nil }
        var protocols = ["5.0"]
        if let manifest, let json = try? JSONParser.parse(manifest),
           let listed = json["metadata"]?["protocol_versions"]?.array?.compactMap(\.string), !listed.isEmpty {
            protocols = listed
        }
        let signature = shasumsName + ".sig"
        return ProviderRelease(version: version, ref: ref, protocols: protocols,
                               packages: packages.sorted { ($0.os, $0.arch) < ($1.os, $1.arch) },
                               shasumsFilename: shasumsName, signatureFilename: files.contains(signature) ? signature : nil)
    }
}

/// `sha256sum` output: `<64 hex>  <name>` per line.
public enum ShasumsFile {
    public static func parse(_ bytes: [UInt8]) -> [(name: String, sum: String)] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].count == 64, let _ = Hex.decode(parts[0]) else { return nil }
            var name = parts[1].trimmingASCIIWhitespace()
            if name.hasPrefix("*") { name.removeFirst() }
            return (name, parts[0].lowercased())
        }
    }
}

/// Where the bytes of a module archive or a provider file come from. A view says where; the
/// registry serves it, sending upstream requests down its chain (so the stack's `cache` keeps them).
public enum RegistryObject: Sendable {
    /// A file on disk, served as it is.
    case file(OpenFile)
    /// A body made here (a folder packed on the fly).
    case body(ResponseBody)
    /// An upstream request (with its cache key); `length` answers HEAD without fetching.
    case upstream(Request, length: Int?)
    /// A repository tarball fetched upstream whose single top directory is dropped, and only
    /// `subdirectory` kept, while it streams (terraform.md §2.3: modules sit at the archive's root).
    case repositoryTarball(Request, subdirectory: String)
}

/// The Terraform registry's view of a source for modules: a file tree (FileTreeRegistry), a
/// release feed (ReleaseFeedRegistry), or a source that is one itself.
public protocol ModuleRegistrySource: Sendable {
    /// The module's versions; nil when the module does not exist here.
    func moduleVersions(_ module: ModuleAddress) async throws -> VersionIndex?
    /// An identifier of what `ref` holds now (a commit, a content hash): archive URLs carry it so
    /// an archive URL always names the same bytes.
    func moduleRevision(_ module: ModuleAddress, ref: String) async throws -> String?
    /// Where the archive (tar.gz with the module at its root) comes from.
    func moduleArchive(_ module: ModuleAddress, ref: String, revision: String) async throws -> RegistryObject
    /// A browsable URL of the module's source, if there is one.
    func moduleSourceURL(_ module: ModuleAddress) -> String?
}

/// The Terraform registry's view of a source for providers.
public protocol ProviderRegistrySource: Sendable {
    /// The provider's releases; nil when the provider does not exist here.
    func providerReleases(_ provider: ProviderAddress) async throws -> [ProviderRelease]?
    /// Where one file of a release (a package zip, SHA256SUMS, its signature) comes from.
    func providerFile(_ provider: ProviderAddress, release: ProviderRelease, name: String) async throws -> RegistryObject
}
