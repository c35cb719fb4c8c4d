import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// `directory`: a folder on disk as a registry, for air-gapped sites and the embedded example.
///
/// ```
/// modules/<namespace>/<name>/<system>/<version>/...        a module version as a folder (packed on the fly)
/// modules/<namespace>/<name>/<system>/<version>.tar.gz     or as an archive (served as it is)
/// providers/<namespace>/<type>/<version>/terraform-provider-<type>_<version>_<os>_<arch>.zip
///                                        .../terraform-provider-<type>_<version>_SHA256SUMS (+ .sig, _manifest.json)
/// ```
public final class DirectorySource: ModuleRegistrySource, ProviderRegistrySource {
    public let root: DirectoryHandle

    public static let type = SourceType(
        name: "directory", summary: "A folder on disk laid out as modules/<ns>/<name>/<system>/<version> and providers/<ns>/<type>/<version>.",
        options: [OptionSpec("path", "path", "the folder (relative to pipeline.json)", required: true)],
        build: { options, _ in
            let path = options.path("path", required: true) ?? ""
            guard !path.isEmpty else { throw ConfigError("required", at: options.pointer.appending("path")) }
            guard let root = DirectoryHandle(path: path) else {
                throw ConfigError("cannot open directory \"\(path)\": \(String(cString: strerror(errno)))", at: options.pointer.appending("path"))
            }
            return DirectorySource(root: root)
        })

    public init(root: DirectoryHandle) { self.root = root }

    /// Names in a folder beneath the root; nil when it is not a folder. Hidden names are skipped.
    func list(_ relative: String) -> [String]? {
        guard Self.isSafe(relative), let dir = opendir(root.path + "/" + relative) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted()
    }

    /// Path components from a client must be plain names: no separators, no dot-dot.
    static func isSafe(_ relative: String) -> Bool {
        !relative.hasPrefix("/") && !relative.split(separator: "/").contains { $0 == ".." || $0 == "." }
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".." && !name.contains("\0")
    }

    // MARK: Modules

    func moduleFolder(_ module: ModuleAddress) -> String? {
        for part in [module.namespace, module.name, module.system] where !Self.isSafeName(part) { return nil }
        return "modules/\(module.namespace)/\(module.name)/\(module.system)"
    }

    public func moduleVersions(_ module: ModuleAddress) async throws -> VersionIndex? {
        guard let folder = moduleFolder(module), let names = list(folder) else { return nil }
        let refs = names.map { $0.hasSuffix(".tar.gz") ? String($0.dropLast(7)) : $0 }
        return VersionIndex(refs: refs)
    }

    public func moduleRevision(_ module: ModuleAddress, ref: String) async throws -> String? {
        guard let folder = moduleFolder(module), Self.isSafeName(ref) else { return nil }
        if case .file(let file) = root.open("\(folder)/\(ref).tar.gz") {
            return "f" + String(file.modified, radix: 16) + "-" + String(file.size, radix: 16)
        }
        guard let entries = try? TarWriter.entries(of: root.path + "/\(folder)/\(ref)") else { return nil }
        // The names, sizes and times of the files: a cheap fingerprint of the folder.
        let listing = entries.map { "\($0.path)\u{0}\($0.size)\u{0}\($0.modified)\u{0}\($0.executable)" }.joined(separator: "\n")
        return "d" + Hex.encode(Digest.sha256(listing).prefix(8))
    }

    public func moduleArchive(_ module: ModuleAddress, ref: String, revision: String, request: Request, context: Context,
                              next: Next) async throws -> Response {
        guard let folder = moduleFolder(module), Self.isSafeName(ref) else { throw HTTPError(.notFound, "not found") }
        if case .file(let file) = root.open("\(folder)/\(ref).tar.gz") {
            return Response(headers: ["Content-Type": "application/gzip"], body: ResponseBody(file: file.region()))
        }
        let path = root.path + "/\(folder)/\(ref)"
        let entries = try TarWriter.entries(of: path)
        return Response(headers: ["Content-Type": "application/gzip"], body: ResponseBody { writer in
            let gzip = try Deflater()
            var pending: [UInt8] = []
            try await TarWriter.write(root: path, entries: entries) { bytes in
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

    public func moduleSourceURL(_ module: ModuleAddress) -> String? { nil }

    // MARK: Providers

    func providerFolder(_ provider: ProviderAddress) -> String? {
        guard Self.isSafeName(provider.namespace), Self.isSafeName(provider.type) else { return nil }
        return "providers/\(provider.namespace)/\(provider.type)"
    }

    public func providerReleases(_ provider: ProviderAddress) async throws -> [ProviderRelease]? {
        guard let folder = providerFolder(provider), let versions = list(folder) else { return nil }
        var releases: [ProviderRelease] = []
        for version in versions {
            guard let files = list("\(folder)/\(version)") else { continue }
            let prefix = "terraform-provider-\(provider.type)_"
            guard let sumsName = files.first(where: { $0.hasPrefix(prefix) && $0.hasSuffix("_SHA256SUMS") }),
                  case .file(let sums) = root.open("\(folder)/\(version)/\(sumsName)"), sums.size < 1 << 20 else { continue }
            let manifestName = sumsName.dropLast("SHA256SUMS".count) + "manifest.json"
            var manifest: [UInt8]?
            if case .file(let file) = root.open("\(folder)/\(version)/\(manifestName)"), file.size < 1 << 20 {
                manifest = try file.read(at: 0, count: Int(file.size))
            }
            if let release = ProviderRelease.from(type: provider.type, ref: version, files: files,
                                                  shasums: try sums.read(at: 0, count: Int(sums.size)), manifest: manifest) {
                releases.append(release)
            }
        }
        return releases.sorted { $1.version < $0.version }
    }

    public func providerFile(_ provider: ProviderAddress, release: ProviderRelease, name: String, request: Request, context: Context,
                             next: Next) async throws -> Response {
        guard let folder = providerFolder(provider), release.files.contains(name),
              case .file(let file) = root.open("\(folder)/\(release.ref)/\(name)") else { throw HTTPError(.notFound, "not found") }
        let type = name.hasSuffix(".zip") ? "application/zip" : name.hasSuffix(".sig") ? "application/pgp-signature" : "text/plain; charset=utf-8"
        return Response(headers: ["Content-Type": type], body: ResponseBody(file: file.region()))
    }

    public func providerPackage(_ provider: ProviderAddress, release: ProviderRelease, package: ProviderPackage) async throws -> OpenFile {
        guard let folder = providerFolder(provider), case .file(let file) = root.open("\(folder)/\(release.ref)/\(package.filename)") else {
            throw HTTPError(.notFound, "not found")
        }
        return file
    }
}
