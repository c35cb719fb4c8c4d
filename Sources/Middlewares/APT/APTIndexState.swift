import Pipeline
import Synchronization

/// The repository's current index and how it is kept fresh. A request gets the last complete
/// index; when `freshFor` has passed (or `invalidate` was called, e.g. by a webhook) the
/// source's generation is compared, and only a change rebuilds. One build runs at a time:
/// concurrent requests wait for the same one, and a failed build keeps the previous index.
final class APTIndexState: Sendable {
    let source: any APTPackageSource
    let renderer: APTIndexRenderer
    let freshFor: Duration

    private struct State {
        var index: APTIndex?
        var generation: String?
        var checked: ContinuousClock.Instant?
        var building: Task<APTIndex, any Error>?
        /// The source's `cheapGeneration` when the index was last checked.
        var cheapGeneration: String?
        /// By-hash files of the indices before the current one, for clients holding an older InRelease.
        var olderByHash: [[String: APTIndex.File]] = []
    }

    private let state = Mutex(State())
    /// How many earlier indices keep their by-hash files available (apt.md §1.3).
    static let keptGenerations = 3

    init(source: any APTPackageSource, renderer: APTIndexRenderer, freshFor: Duration) {
        self.source = source
        self.renderer = renderer
        self.freshFor = freshFor
    }

    /// Makes the next request compare the source's generation (a webhook said something changed).
    func invalidate() { state.withLock { $0.checked = nil } }

    /// The current index, refreshed first when it is older than `freshFor`.
    /// While a rebuild runs, a request waits for it up to `patience` (so the `apt-get update`
    /// after a webhook sees the new release), then gets the last complete index.
    func index(patience: Duration = .seconds(10)) async throws -> APTIndex {
        let now = ContinuousClock.now
        let (ready, running, current): (APTIndex?, Task<APTIndex, any Error>?, APTIndex?) = state.withLock { state in
            if let index = state.index, let checked = state.checked, now - checked < freshFor,
               source.cheapGeneration == nil || source.cheapGeneration == state.cheapGeneration { return (index, nil, nil) }
            if let building = state.building { return (nil, building, state.index) }
            let task = Task(executorPreference: EventLoop.current) { try await self.refresh() }
            state.building = task
            return (nil, task, state.index)
        }
        if let ready { return ready }
        guard let current, let running else { return try await running!.value }
        // The build goes on after the wait; only this request stops waiting for it.
        return await withTaskGroup(of: APTIndex?.self) { group in
            group.addTask { try? await running.value }
            group.addTask {
                try? await Task.sleep(for: patience)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? current
        }
    }

    /// One package per pool path: the first by label; another with other bytes is logged and left out.
    static func deduplicate(_ scanned: [APTPackage]) -> [APTPackage] {
        var packages: [String: APTPackage] = [:]
        for package in scanned.sorted(by: { $0.label < $1.label }) {
            if let other = packages[package.poolPath] {
                if other.sha256 != package.sha256 {
                    Log.warning("apt: package left out", [("package", package.label),
                                                         ("reason", "\(package.poolPath) is already listed from \(other.label) with other bytes")])
                }
                continue
            }
            packages[package.poolPath] = package
        }
        return Array(packages.values)
    }

    /// The newest time in the source (the key's creation for an empty one), never in the future
    /// (apt.md §0 rule 3: more than 10 s ahead is refused).
    static func releaseDate(_ scan: APTScan, key: OpenPGPSecretKey) -> Int64 {
        let date = scan.newest > 0 ? scan.newest : Int64(key.certificate.created.timeIntervalSince1970)
        return min(date, Int64(WallClock.now))
    }

    private func refresh() async throws -> APTIndex {
        defer { state.withLock { $0.building = nil } }
        let previous = state.withLock { ($0.index, $0.generation) }
        let cheap = source.cheapGeneration
        do {
            let generation = try await source.generation()
            if let index = previous.0, generation == previous.1 {
                state.withLock { state in
                    state.checked = .now
                    state.cheapGeneration = cheap
                }
                return index
            }
            let scan = try await source.scan(components: renderer.shape.components)
            let packages = Self.deduplicate(scan.packages)
            var date = Self.releaseDate(scan, key: renderer.signer.key)
            // Never backwards while this process serves: apt takes an older Date for "not
            // modified". An equal one is fine, because the dists files are always answered whole
            // (no 304 by date).
            if let old = previous.0 { date = max(date, old.date) }
            let keep = state.withLock { state in
                state.olderByHash.reduce(into: [String: APTIndex.File]()) { $0.merge($1) { a, _ in a } }
            }
            let renderer = self.renderer
            let list = packages
            let releaseDate = date
            let index = try await BlockingPool.shared.run { try renderer.render(list, date: releaseDate, keepingByHash: keep) }
            state.withLock { state in
                if let old = state.index {
                    state.olderByHash.insert(old.files.filter { $0.value.immutable }, at: 0)
                    if state.olderByHash.count > Self.keptGenerations { state.olderByHash.removeLast() }
                }
                state.index = index
                state.generation = generation
                state.checked = .now
                state.cheapGeneration = cheap
            }
            Log.info("apt: index built", [("packages", String(packages.count)), ("date", APTIndexRenderer.releaseDate(date))])
            return index
        } catch {
            Log.warning("apt: index not rebuilt", [("reason", "\(error)")])
            if let index = previous.0 {
                state.withLock { state in
                    state.checked = .now
                    state.cheapGeneration = cheap
                }
                return index
            }
            throw error
        }
    }
}
