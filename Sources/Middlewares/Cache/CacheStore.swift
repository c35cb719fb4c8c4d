import Pipeline
import Synchronization

/// The cache of one `cache` middleware: the memory tier, the optional disk tier, the fills in
/// flight by key (so concurrent misses share one fetch), and the counters. It has identity and a
/// lifetime, so it is a class; the middleware value holds it.
final class CacheStore: MetricsSource {
    let name: String
    let memory: MemoryStore
    let disk: DiskStore?
    let metrics = CacheMetrics()
    /// Largest body stored; larger ones pass through.
    let maxObjectBytes: Int64
    /// Bytes a fill that outgrew what it may store keeps for its slowest reader.
    let windowBytes: Int64
    private let fills = Mutex<[String: Fill]>([:])
    /// The disk lock (`DiskStore.lockPath`) each fill of this process holds until it is retired.
    private let fillLocks = Mutex<[ObjectIdentifier: (key: String, lock: FileLock)]>([:])
    /// The pumps running (each a fill's body streaming into the store), so `stop` can end them.
    private let pumps = Mutex<(next: Int, tasks: [Int: Task<Void, Never>], stopped: Bool)>((0, [:], false))
    private let stopped = Atomic<Bool>(false)
    /// For each URL (base key) whose last stored answer had `Vary`: the fields it names and the keys
    /// of the variants stored for it, so several variants live side by side and an unsafe request
    /// forgets them all.
    private let variants = Mutex<[String: VaryRecord]>([:])
    /// Whether any URL has had variants: until then a lookup needs no look at `variants` (no lock).
    private let hasVariants = Atomic<Bool>(false)

    struct VaryRecord: Sendable {
        var names: [String]
        var keys: Set<String>
    }

    /// Variants kept per URL; past it a new variant is stored only once an old one is gone.
    static let maxVariants = 64
    /// URLs with variants remembered; past it the list starts over (stored variants are then only
    /// found again once the URL's next answer names its Vary fields).
    static let maxVaryURLs = 100_000
    /// Separates a URL's key from the values that pick one of its variants.
    static let variantSeparator: Character = "\u{1F}"

    /// `name` labels its series and log lines: the JSON pointer of the `cache` in pipeline.json.
    init(name: String, memory: MemoryStore, disk: DiskStore?, maxObjectBytes: Int64, windowBytes: Int64 = 4 << 20) {
        self.name = name
        self.memory = memory
        self.disk = disk
        self.maxObjectBytes = disk == nil ? min(maxObjectBytes, Int64(memory.maxObjectBytes)) : maxObjectBytes
        self.windowBytes = windowBytes
        // The variants the disk tier kept across a restart are found again.
        for head in disk?.heads() ?? [] where !head.vary.isEmpty {
            guard let cut = head.key.firstIndex(of: Self.variantSeparator) else { continue }
            _ = noteVariant(base: String(head.key[..<cut]), names: head.vary.map(\.name), key: head.key)
        }
    }

    // MARK: Variants

    /// The key of the variant `request` selects among those stored for `base`; `base` itself when
    /// its last answer had no Vary.
    func variantKey(_ base: CacheKey, _ request: Request) -> CacheKey {
        guard hasVariants.load(ordering: .acquiring),
              let names = variants.withLock({ $0[base.text]?.names }), !names.isEmpty else { return base }
        return Self.variantKey(base.text, names: names, request)
    }

    static func variantKey(_ base: String, names: [String], _ request: Request) -> CacheKey {
        guard !names.isEmpty else { return CacheKey(text: base) }
        var text = base
        for name in names { text += String(variantSeparator) + name + ": " + StoredHead.varyValue(request, name) }
        return CacheKey(text: text)
    }

    /// Records that `key` is a variant of `base` selected by `names` (the Vary of `base`'s latest
    /// answer). False when `base` already has `maxVariants` variants still stored.
    func noteVariant(base: String, names: [String], key: String) -> Bool {
        var record = variants.withLock { $0[base] } ?? VaryRecord(names: names, keys: [])
        record.names = names
        if names.isEmpty {
            // The URL no longer varies: its old variants are unreachable and age out of the tiers.
            variants.withLock { $0[base] = nil }
            return true
        }
        if !record.keys.contains(key), record.keys.count >= Self.maxVariants {
            record.keys = record.keys.filter { memory.contains($0) || disk?.contains($0) == true }
            if record.keys.count >= Self.maxVariants {
                variants.withLock { $0[base] = record }
                return false
            }
        }
        record.keys.insert(key)
        variants.withLock { variants in
            if variants[base] == nil, variants.count >= Self.maxVaryURLs { variants.removeAll() }
            variants[base] = record
        }
        hasVariants.store(true, ordering: .releasing)
        return true
    }

    /// Forgets every stored response whose key `matches`, in both tiers (a purge); returns how many keys.
    func purge(where matches: (String) -> Bool) -> Int {
        var keys = Set(memory.keys.filter(matches))
        keys.formUnion(disk?.keys.filter(matches) ?? [])
        for key in keys { remove(key) }
        variants.withLock { variants in
            for (base, record) in variants where matches(base) || record.keys.contains(where: matches) {
                variants[base]?.keys.subtract(keys)
            }
        }
        metrics.purged.add(keys.count, ordering: .relaxed)
        return keys.count
    }

    /// Forgets what is stored for a URL: the answer under its key and every variant of it.
    func removeURL(_ base: String) {
        let keys = variants.withLock { $0.removeValue(forKey: base)?.keys } ?? []
        remove(base)
        for key in keys { remove(key) }
    }

    var metricsKey: String { name }

    // MARK: Entries

    /// The stored response for `key`: memory first, then disk. A small object found on disk is
    /// copied into memory, so a hot object read after a restart is soon served without a file.
    func lookup(_ key: String) -> CacheEntry? {
        if let entry = memory.get(key) { return entry }
        guard let disk, let entry = disk.get(key) else { return nil }
        if memory.accepts(length: entry.head.length), case .disk(let path) = entry.body, let file = OpenFile(path: path),
           let bytes = try? file.read(at: 0, count: Int(entry.head.length)), bytes.count == Int(entry.head.length) {
            let promoted = CacheEntry(head: entry.head, body: .memory(bytes))
            metrics.memoryEvictions.add(memory.put(promoted), ordering: .relaxed)
            return promoted
        }
        return entry
    }

    /// Applies a 304's refresh to both tiers.
    func refresh(_ key: String, head: StoredHead) {
        memory.refresh(key, head: head)
        disk?.refresh(key, head: head)
    }

    /// Forgets `key` in both tiers (an unsafe method succeeded on it, RFC 9111 §4.4).
    func remove(_ key: String) {
        memory.remove(key)
        disk?.remove(key)
    }

    // MARK: Fills

    /// The fill to follow for `key` and the caller's place in it: the fill in flight when it may still
    /// be joined, otherwise a new one that the caller (the owner) must run.
    func join(_ key: CacheKey) -> (fill: Fill, reader: FillReader, isOwner: Bool) {
        fills.withLock { fills in
            if let fill = fills[key.text], let reader = fill.join() { return (fill, reader, false) }
            let fill = Fill(key: key, windowBytes: windowBytes)
            fills[key.text] = fill
            return (fill, fill.join()!, true)
        }
    }

    /// Takes a fill out of the map once it is stored, failed or not shared (only if it is still the current one).
    func retire(_ fill: Fill) {
        fills.withLock { fills in
            if fills[fill.key.text] === fill { fills[fill.key.text] = nil }
        }
        // Stored (renamed into place), failed or not shared: other processes may go on.
        _ = fillLocks.withLock { $0.removeValue(forKey: ObjectIdentifier(fill)) }
    }

    /// Takes the disk lock for `fill`'s key, so other processes on the directory wait for this
    /// fill instead of fetching the object too. When another process holds it, waits (polling,
    /// never blocking a loop) until it is released, at most `patience`; then goes on without it
    /// (a second fetch is correct, only wasteful). The lock is released when the fill is retired.
    /// Returns whether it had to wait.
    func lockAcrossProcesses(_ fill: Fill, patience: Duration) async -> Bool {
        guard let disk else { return false }
        // Another fill of this process has the key (one nobody may join any more, a window past
        // what is stored): not a fill to wait for, as without other processes.
        if fillLocks.withLock({ $0.values.contains { $0.key == fill.key.text } }) { return false }
        let path = disk.lockPath(fill.key)
        let giveUp = ContinuousClock.now + patience
        var waited = false
        var pause = Duration.milliseconds(5)
        while !isStopped {
            if let lock = FileLock.tryLock(path) {
                fillLocks.withLock { $0[ObjectIdentifier(fill)] = (fill.key.text, lock) }
                break
            }
            guard ContinuousClock.now < giveUp, (try? await Task.sleep(for: pause)) != nil else { break }
            waited = true
            pause = min(pause * 2, .milliseconds(50))
        }
        return waited
    }

    /// Where a new fill keeps its body: a temporary file when there is a disk tier, memory otherwise.
    func storage(declaredLength: Int64?) -> Fill.Storage {
        let limit = min(maxObjectBytes, Int64(disk?.budget ?? 0))
        if let disk, let temporary = try? disk.makeTemporary() {
            // Allocating the blocks up front spares ext4 its per-page delayed allocation while the
            // body streams in (about a third of a fill's CPU without it).
            if let declaredLength, declaredLength > 0, declaredLength <= limit {
                temporary.file.preallocate(declaredLength)
            }
            return .file(temporary.file, path: temporary.path, limit: limit)
        }
        return .memory(limit: min(maxObjectBytes, Int64(memory.maxObjectBytes)))
    }

    /// Runs `pump` for `fill` beside the connection that started it, owned by the store; once the
    /// store is stopped the fill fails at once instead.
    func startPump(_ fill: Fill, head: FillHead, body: ResponseBody) {
        let refused: Bool = pumps.withLock { pumps in
            if pumps.stopped { return true }
            let id = pumps.next
            pumps.next += 1
            pumps.tasks[id] = Task(executorPreference: EventLoop.current) {
                await self.pump(fill, head: head, body: body)
                self.pumps.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
            return false
        }
        if refused {
            fill.fail(CancellationError())
            retire(fill)
        }
    }

    /// Cancels the pumps and fails the fills in flight; later fills fail at once.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        let tasks = pumps.withLock { pumps in
            pumps.stopped = true
            defer { pumps.tasks = [:] }
            return Array(pumps.tasks.values)
        }
        for task in tasks { task.cancel() }
        let inFlight = fills.withLock { fills in
            defer { fills = [:] }
            return Array(fills.values)
        }
        for fill in inFlight { fill.fail(CancellationError()) }
        fillLocks.withLock { $0 = [:] }
    }

    /// Whether `stop()` was called.
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Runs a fill's body to its end and stores the result; on any failure the fill fails (its
    /// readers abort) and nothing is kept. Never throws: it runs detached from any one request.
    func pump(_ fill: Fill, head: FillHead, body: ResponseBody) async {
        do {
            let writer = FillWriter(fill: fill, metrics: metrics)
            try await body.write(to: writer)
            let completed = try fill.finish(declaredLength: head.declaredLength)
            try await store(completed, head: head.stored, key: CacheKey(text: head.stored.key))
        } catch {
            fill.fail(error)
            metrics.fillFailures.add(1, ordering: .relaxed)
            if let path = fill.temporaryPath { FileSystem.remove(path) }
            if !(error is FillAbandoned) {
                Log.warning("cache fill failed", [("cache", name), ("reason", "\(error)")])
            }
        }
        retire(fill)
    }

    private func store(_ completed: Fill.Completed, head template: StoredHead, key: CacheKey) async throws {
        switch completed {
        case .nothing(let path):
            if let path { FileSystem.remove(path) }
        case .memory(let bytes):
            var head = template
            head.length = Int64(bytes.count)
            metrics.memoryEvictions.add(memory.put(CacheEntry(head: head, body: .memory(bytes))), ordering: .relaxed)
        case .file(let file, let path, let length):
            var head = template
            head.length = length
            guard let disk else { return }
            do {
                metrics.diskEvictions.add(try await disk.commit(file, temporaryPath: path, head: head, key: key), ordering: .relaxed)
            } catch {
                FileSystem.remove(path)
                throw error
            }
            if memory.accepts(length: length), let bytes = try? file.read(at: 0, count: Int(length)), bytes.count == Int(length) {
                metrics.memoryEvictions.add(memory.put(CacheEntry(head: head, body: .memory(bytes))), ordering: .relaxed)
            } else {
                // An older, smaller version in memory would otherwise shadow this one.
                memory.remove(key.text)
            }
        }
    }

    /// The counters as Prometheus text (also shown by the `metrics` middleware).
    func renderMetrics() -> String {
        metrics.render(name: name, memory: memory.usage, disk: disk?.usage)
    }
}

/// Feeds a body written by the upstream into a fill; an upstream on a plain socket splices into
/// a disk fill's file (`FileSpliceTarget`).
final class FillWriter: FileSpliceTarget, Sendable {
    let fill: Fill
    let metrics: CacheMetrics

    init(fill: Fill, metrics: CacheMetrics) {
        self.fill = fill
        self.metrics = metrics
    }

    func write(_ chunk: [UInt8]) async throws {
        try await fill.append(chunk)
        metrics.bytesFilled.add(chunk.count, ordering: .relaxed)
    }

    func spliceFile(for count: Int) -> (file: OpenFile, offset: Int64)? { fill.fileSink(for: Int64(count)) }

    func didSpliceFile(_ count: Int) {
        fill.appendedToFile(Int64(count))
        metrics.bytesFilled.add(count, ordering: .relaxed)
    }
}
