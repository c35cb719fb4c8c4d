import Pipeline
import Synchronization

/// The APT view of a release feed (a `github` source): the `.deb` assets of the published
/// releases of the configured repositories (all of the owner's when none are named).
///
/// An asset's control data is read with a Range request for its first bytes (apt.md §3), sent
/// down the behaviour's chain like any asset download; its SHA-256 is the asset's `digest`, or,
/// for assets without one, hashed from one streamed read. What was read is kept per asset id,
/// digest (or update time) and size, in memory and, with a `cacheDirectory`, on disk, so an
/// unchanged release is never read again, not after a restart either.
final class ReleaseFeedPackages: APTPackageSource {
    let feed: any ReleaseFeed
    let repositories: [String]?
    let downstream: Downstream
    let store: APTControlStore

    /// What the last scan listed, by location, so a package's bytes can be asked for.
    private let assets = Mutex<[String: (repo: String, asset: ReleaseAsset)]>([:])

    init(feed: any ReleaseFeed, repositories: [String]?, downstream: Downstream, store: APTControlStore) {
        self.feed = feed
        self.repositories = repositories
        self.downstream = downstream
        self.store = store
    }

    var cheapGeneration: String? { String(feed.generation) }

    func generation() async throws -> String {
        // Asking refreshes the feed's cached answers when they are stale; the generation says
        // whether anything came back different.
        for repo in try await repositoryNames() { _ = try await feed.releases(repo: repo) }
        return String(feed.generation)
    }

    func repositoryNames() async throws -> [String] {
        if let repositories { return repositories }
        return try await feed.repositories().map(\.name).sorted()
    }

    func scan(components: [String]) async throws -> APTScan {
        var packages: [APTPackage] = []
        var newest: Int64 = 0
        var listed: [String: (repo: String, asset: ReleaseAsset)] = [:]
        for repo in try await repositoryNames() {
            for release in try await feed.releases(repo: repo) where !release.draft {
                for asset in release.assets where asset.name.hasSuffix(".deb") && asset.state == "uploaded" {
                    let time = Int64(asset.updatedAt.flatMap(WallClock.parse) ?? 0)
                    newest = max(newest, time)
                    let label = "\(feed.owner)/\(repo)@\(release.tag)/\(asset.name)"
                    guard let read = await read(repo: repo, asset: asset, label: label), let control = read.control else { continue }
                    let location = "\(repo)/\(asset.id)"
                    listed[location] = (repo, asset)
                    packages.append(APTPackage(control: control, size: Int64(asset.size), sha256: read.sha256, component: components[0],
                                               location: location, label: label, time: time))
                }
            }
        }
        assets.withLock { $0 = listed }
        return APTScan(packages: packages, newest: newest)
    }

    /// The asset's control paragraph and SHA-256, from the store or read now; nil (logged once
    /// per asset version) when it is not a usable package.
    private func read(repo: String, asset: ReleaseAsset, label: String) async -> APTControlStore.Entry? {
        let key = "\(feed.owner)/\(repo)/\(asset.id)/\(asset.digest ?? asset.updatedAt ?? "")/\(asset.size)"
        if let known = store.lookup(key) { return known.failure == nil ? known : nil }
        let entry: APTControlStore.Entry
        do {
            let digest = asset.digest.flatMap { $0.hasPrefix("sha256:") ? String($0.dropFirst(7)).lowercased() : nil }
            let request = try await feed.assetRequest(repo: repo, asset: asset)
            let control: ControlStanza
            let sha256: String
            if let digest, digest.count == 64 {
                control = try await DebControlReader.control(fileSize: Int64(asset.size)) { count in
                    try await self.prefix(of: request, count: count)
                }
                sha256 = digest
            } else {
                (control, sha256) = try await readWhole(request, size: Int64(asset.size))
            }
            try APTPackage.validate(control)
            entry = APTControlStore.Entry(control: control.removing(APTPackage.repositoryFields), sha256: sha256, failure: nil)
        } catch let error as HTTPError where error.status.code >= 500 || error.status.code == 429 {
            // Not the package's fault: try again on the next build.
            Log.warning("apt: package not read (will retry)", [("package", label), ("reason", "\(error)")])
            return nil
        } catch {
            Log.warning("apt: package left out", [("package", label), ("reason", "\(error)")])
            entry = APTControlStore.Entry(control: nil, sha256: "", failure: "\(error)")
        }
        store.insert(key, entry)
        return entry.failure == nil ? entry : nil
    }

    /// The first `count` bytes of the asset: a Range request (206), or the start of a 200.
    private func prefix(of request: Request, count: Int) async throws -> [UInt8] {
        var request = request
        request.headers["Range"] = "bytes=0-\(count - 1)"
        let response = try await downstream.fetch(request, timeout: .seconds(60))
        guard response.status == .ok || response.status == .partialContent else {
            throw HTTPError(response.status.code >= 500 ? .badGateway : response.status, "asset answered \(response.status.code)")
        }
        let collector = PrefixCollector(limit: count)
        do {
            try await response.body.write(to: collector)
        } catch is PrefixCollector.Enough {}
        return collector.bytes
    }

    /// Streams the whole asset once (no digest given): its SHA-256 and its control paragraph.
    private func readWhole(_ request: Request, size: Int64) async throws -> (ControlStanza, String) {
        let response = try await downstream.fetch(request, timeout: .seconds(3600))
        guard response.status == .ok else {
            throw HTTPError(response.status.code >= 500 ? .badGateway : response.status, "asset answered \(response.status.code)")
        }
        let collector = HashingCollector(keep: DebControlReader.maxControlArchive + 64 * 1024)
        try await response.body.write(to: collector)
        let (head, digest) = collector.finish()
        let control = try await DebControlReader.control(fileSize: size) { count in Array(head.prefix(count)) }
        return (control, digest)
    }

    func object(_ package: APTPackage) async throws -> APTObject {
        guard let (repo, asset) = assets.withLock({ $0[package.location] }) else { throw HTTPError(.notFound, "not found") }
        return .upstream(try await feed.assetRequest(repo: repo, asset: asset))
    }
}

/// Keeps the first bytes of a body and stops it once it has them.
final class PrefixCollector: ResponseBodyWriter, @unchecked Sendable {
    struct Enough: Error {}
    // Written by the one task that writes the body.
    let limit: Int
    var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func write(_ chunk: [UInt8]) async throws {
        bytes += chunk.prefix(limit - bytes.count)
        if bytes.count >= limit { throw Enough() }
    }
}

/// Hashes a whole body as it streams by, keeping only its first bytes (bounded memory).
final class HashingCollector: ResponseBodyWriter, @unchecked Sendable {
    // Written by the one task that writes the body.
    let keep: Int
    var head: [UInt8] = []
    let hasher = SHA256Hasher()

    init(keep: Int) { self.keep = keep }

    func write(_ chunk: [UInt8]) async throws {
        hasher.update(chunk)
        if head.count < keep { head += chunk.prefix(keep - head.count) }
    }

    func finish() -> ([UInt8], String) { (head, Hex.encode(hasher.finalize())) }
}
