import Pipeline

/// The Terraform registry's view of a file tree (a `directory` source), laid out as:
///
/// ```
/// modules/<namespace>/<name>/<system>/<version>/...        a module version as a folder (packed on the fly)
/// modules/<namespace>/<name>/<system>/<version>.tar.gz     or as an archive (served as it is)
/// providers/<namespace>/<type>/<version>/terraform-provider-<type>_<version>_<os>_<arch>.zip
///                                        .../terraform-provider-<type>_<version>_SHA256SUMS (+ .sig, _manifest.json)
/// ```
/// Names from a request become path segments only when they are plain names (no separator, no
/// `.` or `..`); the tree keeps every path beneath its root in any case.
struct FileTreeRegistry: ModuleRegistrySource, ProviderRegistrySource {
    let tree: any FileTree

    /// Metadata files read whole: SHA256SUMS and manifests are a few hundred bytes.
    static let maxMetadataBytes = 1 << 20

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".." && !name.contains("\0")
    }

    /// Names in a folder (hidden ones left out), or nil when it is not a folder.
    func names(_ folder: String) async throws -> [String]? {
        try await tree.list(folder, recursive: false)?.map { String($0.name) }.filter { !$0.hasPrefix(".") }
    }

    // MARK: Modules

    func moduleFolder(_ module: ModuleAddress) -> String? {
        for part in [module.namespace, module.name, module.system] where !Self.isSafeName(part) { return nil }
        return "modules/\(module.namespace)/\(module.name)/\(module.system)"
    }

    func moduleVersions(_ module: ModuleAddress) async throws -> VersionIndex? {
        guard let folder = moduleFolder(module), let names = try await names(folder) else { return nil }
        let refs = names.map { $0.hasSuffix(".tar.gz") ? String($0.dropLast(7)) : $0 }
        return VersionIndex(refs: refs)
    }

    func moduleRevision(_ module: ModuleAddress, ref: String) async throws -> String? {
        guard let folder = moduleFolder(module), Self.isSafeName(ref) else { return nil }
        if let status = try await tree.status("\(folder)/\(ref).tar.gz"), status.kind == .file {
            return "f" + String(status.modified, radix: 16) + "-" + String(status.size, radix: 16)
        }
        // The names, sizes and times of the files: a cheap fingerprint of the folder.
        return try await tree.generation(of: "\(folder)/\(ref)").map { "d" + $0.prefix(16) }
    }

    func moduleArchive(_ module: ModuleAddress, ref: String, revision: String) async throws -> RegistryObject {
        guard let folder = moduleFolder(module), Self.isSafeName(ref) else { throw HTTPError(.notFound, "not found") }
        if let file = try await tree.open("\(folder)/\(ref).tar.gz") { return .file(file) }
        let path = "\(folder)/\(ref)"
        guard let entries = try await tree.list(path, recursive: true) else { throw HTTPError(.notFound, "not found") }
        let tree = self.tree
        return .body(ResponseBody { writer in
            let gzip = try Deflater()
            var pending: [UInt8] = []
            try await TarWriter.write(entries: entries, open: { try await tree.open(path + "/" + $0) }) { bytes in
                pending += gzip.deflate(bytes)
                if pending.count >= 64 * 1024 {
                    try await writer.write(pending)
                    pending = []
                }
            }
            pending += gzip.finish()
            try await writer.write(pending)
        })
    }

    func moduleSourceURL(_ module: ModuleAddress) -> String? { nil }

    // MARK: Providers

    func providerFolder(_ provider: ProviderAddress) -> String? {
        guard Self.isSafeName(provider.namespace), Self.isSafeName(provider.type) else { return nil }
        return "providers/\(provider.namespace)/\(provider.type)"
    }

    func providerReleases(_ provider: ProviderAddress) async throws -> [ProviderRelease]? {
        guard let folder = providerFolder(provider), let versions = try await names(folder) else { return nil }
        var releases: [ProviderRelease] = []
        for version in versions {
            guard let files = try await names("\(folder)/\(version)") else { continue }
            let prefix = "terraform-provider-\(provider.type)_"
            guard let sumsName = files.first(where: { $0.hasPrefix(prefix) && $0.hasSuffix("_SHA256SUMS") }),
                  let sums = try? await tree.read("\(folder)/\(version)/\(sumsName)", limit: Self.maxMetadataBytes) else { continue }
            let manifestName = sumsName.dropLast("SHA256SUMS".count) + "manifest.json"
            let manifest = try? await tree.read("\(folder)/\(version)/\(manifestName)", limit: Self.maxMetadataBytes)
            if let release = ProviderRelease.from(type: provider.type, ref: version, files: files, shasums: sums, manifest: manifest ?? nil) {
                releases.append(release)
            }
        }
        return releases.sorted { $1.version < $0.version }
    }

    func providerFile(_ provider: ProviderAddress, release: ProviderRelease, name: String) async throws -> RegistryObject {
        guard let folder = providerFolder(provider), release.files.contains(name),
              let file = try await tree.open("\(folder)/\(release.ref)/\(name)") else { throw HTTPError(.notFound, "not found") }
        return .file(file)
    }
}
