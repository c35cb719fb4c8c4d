import Pipeline
import Synchronization

/// The `apt-metadata` branch mode (`"metadata": {"branch": "apt-metadata"}`): `dists/` is served
/// as committed on a branch of a repository (what `gateway apt index --no-pool` wrote, signed by
/// the project's CI), and the gateway only adds the `.deb` bodies: a pool path names its file,
/// which is the release asset of that name among the repositories' published releases.
final class APTBranchMetadata: Sendable {
    let feed: any ReleaseFeed
    let repository: String
    let branch: String
    let repositories: [String]?

    /// Asset names to assets, for the feed generation they were listed at.
    private let assets = Mutex<(generation: UInt64, byName: [String: (repo: String, asset: ReleaseAsset)])?>(nil)

    init(feed: any ReleaseFeed, repository: String, branch: String, repositories: [String]?) {
        self.feed = feed
        self.repository = repository
        self.branch = branch
        self.repositories = repositories
    }

    /// The committed file at `dists/...` on the branch, or nil.
    func dists(_ path: String) async throws -> [UInt8]? {
        try await feed.file(repo: repository, path: path, ref: branch)
    }

    /// The upstream request for the package file `name` (a pool path's last part), or nil.
    func package(named name: String) async throws -> Request? {
        let generation = feed.generation
        var byName = assets.withLock { $0?.generation == generation ? $0?.byName : nil }
        if byName == nil {
            var found: [String: (repo: String, asset: ReleaseAsset)] = [:]
            var repos = repositories ?? []
            if repositories == nil { repos = try await feed.repositories().map(\.name).sorted() }
            for repo in repos {
                for release in try await feed.releases(repo: repo) where !release.draft {
                    for asset in release.assets where asset.name.hasSuffix(".deb") && asset.state == "uploaded" && found[asset.name] == nil {
                        found[asset.name] = (repo, asset)
                    }
                }
            }
            let list = found
            assets.withLock { $0 = (generation, list) }
            byName = found
        }
        guard let (repo, asset) = byName?[name] else { return nil }
        return try await feed.assetRequest(repo: repo, asset: asset)
    }
}
