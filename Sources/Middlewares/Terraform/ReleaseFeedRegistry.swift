import Pipeline

/// The Terraform registry's view of a release feed (a `github` source; terraform.md §6.5: a
/// registry with no upload step): repositories named `terraform-<system>-<name>` are modules
/// `<namespace>/<name>/<system>` whose versions are their semver tags; monorepos map tag patterns
/// (`{name}/{system}/v{version}`) to modules kept in a folder; repositories
/// `terraform-provider-<type>` publish providers as goreleaser releases. Archives are the commit's
/// tarball re-rooted while it streams.
///
/// Everything it downloads goes down the registry's chain (`Downstream`): SHA256SUMS and
/// manifests here, archives and package zips by the registry, so a `cache` after the registry
/// keeps each asset once, by its id.
final class ReleaseFeedRegistry: ModuleRegistrySource, ProviderRegistrySource, Stoppable {
    struct Monorepo: Sendable {
        let repository: String
        /// Tag text before and after `{version}`, with `{name}` and `{system}` still in it.
        let tagPattern: String
        /// The module's folder in the repository, with `{name}` and `{system}`.
        let pathPattern: String
    }

    let feed: any ReleaseFeed
    let namespace: String
    let monorepos: [Monorepo]
    let downstream: Downstream
    /// SHA256SUMS and manifests by asset id (immutable): each is downloaded once; a failed download
    /// is tried again after a few seconds, not by every request meanwhile.
    let smallAssets = OutcomeCache<Int, [UInt8]>(maxEntries: 4096, firstRetry: .seconds(5), maxRetry: .seconds(300))
    static let maxSmallAssetBytes = 1 << 20

    init(feed: any ReleaseFeed, namespace: String, monorepos: [Monorepo], downstream: Downstream) {
        self.feed = feed
        self.namespace = namespace
        self.monorepos = monorepos
        self.downstream = downstream
    }

    /// Cancels the downloads running for `smallAssets` (the registry was replaced).
    func stop() async { await smallAssets.stop() }

    // MARK: Modules

    /// Where a module lives: its repository, how its tags read, and its folder.
    struct ModuleLocation {
        let repository: String
        let version: (String) -> Semver?
        let subdirectory: String
    }

    func location(_ module: ModuleAddress) -> ModuleLocation? {
        guard module.namespace.lowercased() == namespace.lowercased(), FileTreeRegistry.isSafeName(module.name),
              FileTreeRegistry.isSafeName(module.system) else { return nil }
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
        let tags = try await feed.tags(repo: location.repository)
        let index = VersionIndex(refs: tags.map(\.name), parse: location.version)
        return index.entries.isEmpty ? nil : index
    }

    func moduleRevision(_ module: ModuleAddress, ref: String) async throws -> String? {
        guard let location = location(module) else { return nil }
        return try await feed.tags(repo: location.repository).first { $0.name == ref }?.sha
    }

    func moduleArchive(_ module: ModuleAddress, ref: String, revision: String) async throws -> RegistryObject {
        guard let location = location(module) else { throw HTTPError(.notFound, "not found") }
        return .repositoryTarball(try await feed.archiveRequest(repo: location.repository, ref: revision), subdirectory: location.subdirectory)
    }

    func moduleSourceURL(_ module: ModuleAddress) -> String? {
        location(module).flatMap { feed.webURL(repo: $0.repository) }
    }

    // MARK: Providers

    func providerReleases(_ provider: ProviderAddress) async throws -> [ProviderRelease]? {
        guard provider.namespace.lowercased() == namespace.lowercased(), FileTreeRegistry.isSafeName(provider.type) else { return nil }
        let repository = "terraform-provider-\(provider.type)"
        let releases = try await feed.releases(repo: repository).filter { !$0.draft }
        let result = try await withThrowingTaskGroup(of: ProviderRelease?.self) { group in
            for release in releases {
                let names = release.assets.map(\.name)
                guard let sums = release.assets.first(where: { $0.name.hasPrefix("terraform-provider-\(provider.type)_") && $0.name.hasSuffix("_SHA256SUMS") }) else {
                    continue
                }
                let manifest = release.assets.first { $0.name == sums.name.dropLast("SHA256SUMS".count) + "manifest.json" }
                group.addTask {
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

    /// A small asset's bytes, fetched down the chain once per asset id; nil when the feed has none
    /// (its release is then left out until a retry finds it).
    func smallAsset(_ repository: String, _ asset: ReleaseAsset) async throws -> [UInt8]? {
        do {
            return try await smallAssets.value(for: asset.id) {
                let request = try await self.feed.assetRequest(repo: repository, asset: asset)
                let response = try await self.downstream.fetch(request, timeout: .seconds(60))
                guard response.status == .ok else { throw TerraformRegistry.failure(response.status, object: asset.name) }
                return try await response.body.collect(upTo: Self.maxSmallAssetBytes)
            }
        } catch let error as HTTPError where error.status == .notFound {
            return nil
        }
    }

    func asset(_ provider: ProviderAddress, _ release: ProviderRelease, _ name: String) async throws -> ReleaseAsset {
        guard let published = try await feed.release(repo: "terraform-provider-\(provider.type)", tag: release.ref),
              let asset = published.asset(named: name) else { throw HTTPError(.notFound, "no such file") }
        return asset
    }

    func providerFile(_ provider: ProviderAddress, release: ProviderRelease, name: String) async throws -> RegistryObject {
        let asset = try await asset(provider, release, name)
        return .upstream(try await feed.assetRequest(repo: "terraform-provider-\(provider.type)", asset: asset), length: asset.size)
    }
}
