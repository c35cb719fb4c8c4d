import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// The registry view of a `github` source (terraform.md §6.5: a registry with no upload step):
/// repositories named `terraform-<system>-<name>` are modules `<namespace>/<name>/<system>` whose
/// versions are their semver tags; monorepos map tag patterns (`{name}/{system}/v{version}`) to
/// modules kept in a folder; repositories `terraform-provider-<type>` publish providers as
/// goreleaser GitHub Releases. Archives are the commit's tarball re-rooted while it streams.
final class GitHubRegistry: ModuleRegistrySource, ProviderRegistrySource {
    struct Monorepo: Sendable {
        let repository: String
        /// Tag text before and after `{version}`, with `{name}` and `{system}` still in it.
        let tagPattern: String
        /// The module's folder in the repository, with `{name}` and `{system}`.
        let pathPattern: String
    }

    let github: GitHubSource
    let namespace: String
    let monorepos: [Monorepo]
    private let smallFiles = SmallFileCache()

    init(github: GitHubSource, namespace: String, monorepos: [Monorepo]) {
        self.github = github
        self.namespace = namespace
        self.monorepos = monorepos
    }

    // MARK: Modules

    /// Where a module lives: its repository, how its tags read, and its folder.
    struct ModuleLocation {
        let repository: String
        let version: (String) -> Semver?
        let subdirectory: String
    }

    func location(_ module: ModuleAddress) -> ModuleLocation? {
        guard module.namespace.lowercased() == namespace.lowercased(), DirectorySource.isSafeName(module.name),
              DirectorySource.isSafeName(module.system) else { return nil }
        for mono in monorepos {
            let filled = mono.tagPattern.replacing("{name}", with: module.name).replacing("{system}", with: module.system)
            guard let marker = filled.firstRange(of: "{version}") else { continue }
            let prefix = String(filled[..<marker.lowerBound]), suffix = String(filled[marker.upperBound...])
            let path = mono.pathPattern.replacing("{name}", with: module.name).replacing("{system}", with: module.system)
            return ModuleLocation(repository: mono.repository, version: { tag in
                guard tag.hasPrefix(prefix), tag.hasSuffix(suffix), tag.count > prefix.count + suffix.count else { return nil }
                return Semver(lenient: tag.dropFirst(prefix.count).dropLast(suffix.count))
            }, subdirectory: path)
        }
        return ModuleLocation(repository: "terraform-\(module.system)-\(module.name)", version: { Semver(lenient: $0) }, subdirectory: "")
    }

    func moduleVersions(_ module: ModuleAddress) async throws -> VersionIndex? {
        guard let location = location(module) else { return nil }
        let tags = try await github.tags(repo: location.repository)
        let index = VersionIndex(refs: tags.map(\.name), parse: location.version)
        return index.entries.isEmpty ? nil : index
    }

    func moduleRevision(_ module: ModuleAddress, ref: String) async throws -> String? {
        guard let location = location(module) else { return nil }
        return try await github.tags(repo: location.repository).first { $0.name == ref }?.sha
    }

    func moduleArchive(_ module: ModuleAddress, ref: String, revision: String, request: Request, context: Context,
                       next: Next) async throws -> Response {
        guard let location = location(module) else { throw HTTPError(.notFound, "not found") }
        let upstream = try await next(try await github.tarballRequest(repo: location.repository, ref: revision), context)
        guard upstream.status == .ok else { throw Self.failure(upstream.status) }
        let source = upstream.body
        let subdirectory = location.subdirectory
        return Response(headers: ["Content-Type": "application/gzip"], body: ResponseBody { writer in
            let transform = try ReRootingTransform(subdirectory: subdirectory)
            try await source.write(to: ChunkSink { chunk in
                let out = try transform.process(chunk)
                if !out.isEmpty { try await writer.write(out) }
            })
            try await writer.write(try transform.finish())
        })
    }

    func moduleSourceURL(_ module: ModuleAddress) -> String? {
        guard let location = location(module), github.api.base.host == "api.github.com" else { return nil }
        return "https://github.com/\(github.owner)/\(location.repository)"
    }

    // MARK: Providers

    func providerReleases(_ provider: ProviderAddress) async throws -> [ProviderRelease]? {
        guard provider.namespace.lowercased() == namespace.lowercased(), DirectorySource.isSafeName(provider.type) else { return nil }
        let repository = "terraform-provider-\(provider.type)"
        let releases = try await github.releases(repo: repository).filter { !$0.draft }
        let result = try await withThrowingTaskGroup(of: ProviderRelease?.self) { group in
            for release in releases {
                let names = release.assets.map(\.name)
                guard let sums = release.assets.first(where: { $0.name.hasPrefix("terraform-provider-\(provider.type)_") && $0.name.hasSuffix("_SHA256SUMS") }) else {
                    continue
                }
                let manifest = release.assets.first { $0.name == sums.name.dropLast("SHA256SUMS".count) + "manifest.json" }
                group.addTask {
                    // Assets are immutable by id: each SHA256SUMS and manifest is downloaded once.
                    guard let shasums = try await self.smallAsset(repository, sums) else { return nil }
                    var manifestBytes: [UInt8]?
                    if let manifest { manifestBytes = try await self.smallAsset(repository, manifest) }
                    return ProviderRelease.from(type: provider.type, ref: release.tag, files: names, shasums: shasums, manifest: manifestBytes)
                }
            }
            var collected: [ProviderRelease] = []
            for try await release in group { if let release { collected.append(release) } }
            return collected
        }
        return result.isEmpty ? nil : result.sorted { $1.version < $0.version }
    }

    func smallAsset(_ repository: String, _ asset: GitHubAsset) async throws -> [UInt8]? {
        try await smallFiles.value(for: asset.id) {
            let response = try await self.github.client.execute(try await self.github.assetRequest(repo: repository, asset: asset))
            guard response.status == .ok else { return nil }
            return try await response.body.collect(upTo: 1 << 20)
        }
    }

    func asset(_ provider: ProviderAddress, _ release: ProviderRelease, _ name: String) async throws -> GitHubAsset {
        guard let published = try await github.release(repo: "terraform-provider-\(provider.type)", tag: release.ref),
              let asset = published.asset(named: name) else { throw HTTPError(.notFound, "no such file") }
        return asset
    }

    func providerFile(_ provider: ProviderAddress, release: ProviderRelease, name: String, request: Request, context: Context,
                      next: Next) async throws -> Response {
        let asset = try await asset(provider, release, name)
        if request.method == .head {
            return Response(headers: ["Content-Type": asset.contentType, "Content-Length": String(asset.size)],
                            body: ResponseBody(content: .empty, length: nil))
        }
        var upstream = try await next(try await github.assetRequest(repo: "terraform-provider-\(provider.type)", asset: asset), context)
        guard upstream.status == .ok else { throw Self.failure(upstream.status) }
        upstream.headers = ["Content-Type": name.hasSuffix(".zip") ? "application/zip" : "application/octet-stream"]
        return upstream
    }

    func providerPackage(_ provider: ProviderAddress, release: ProviderRelease, package: ProviderPackage) async throws -> OpenFile {
        let asset = try await asset(provider, release, package.filename)
        let response = try await github.client.execute(try await github.assetRequest(repo: "terraform-provider-\(provider.type)", asset: asset))
        guard response.status == .ok else { throw Self.failure(response.status) }
        // Spooled to an unlinked temporary file: zips are read from their end, and may be large.
        var template = Array("/tmp/gateway-provider-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw HTTPError(.internalServerError, "cannot spool the provider package") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        let hasher = SHA256Hasher()
        do {
            for try await chunk in response.body {
                hasher.update(chunk)
                var offset = 0
                while offset < chunk.count {
                    let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                    guard n > 0 else { throw HTTPError(.internalServerError, "cannot spool the provider package") }
                    offset += n
                }
            }
        } catch {
            close(fd)
            throw error
        }
        // The package must be the one SHA256SUMS names, or its h1 would vouch for the wrong bytes.
        guard Hex.encode(hasher.finalize()) == package.shasum else {
            close(fd)
            throw HTTPError(.badGateway, "provider package does not match SHA256SUMS")
        }
        guard let file = OpenFile(descriptor: fd) else { throw HTTPError(.internalServerError, "cannot spool the provider package") }
        return file
    }

    static func failure(_ status: HTTPStatus) -> HTTPError {
        status == .notFound ? HTTPError(.notFound, "not found") : HTTPError(.badGateway, "GitHub answered \(status.code)")
    }
}

/// A `ResponseBodyWriter` that hands each chunk to a closure (a transform inside a stream).
struct ChunkSink: ResponseBodyWriter {
    let body: @Sendable ([UInt8]) async throws -> Void
    init(_ body: @escaping @Sendable ([UInt8]) async throws -> Void) { self.body = body }
    func write(_ chunk: [UInt8]) async throws { try await body(chunk) }
}

/// Small immutable downloads (SHA256SUMS, manifests) kept by id, fetched once even when asked
/// for concurrently.
actor SmallFileCache {
    private var values: [Int: [UInt8]] = [:]
    private var running: [Int: Task<[UInt8]?, any Error>] = [:]

    func value(for id: Int, fetch: @escaping @Sendable () async throws -> [UInt8]?) async throws -> [UInt8]? {
        if let value = values[id] { return value }
        if let task = running[id] { return try await task.value }
        let task = Task { try await fetch() }
        running[id] = task
        defer { running[id] = nil }
        let value = try await task.value
        if let value { values[id] = value }
        return value
    }
}
