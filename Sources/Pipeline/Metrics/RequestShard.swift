import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// One thread's request counts for one `MetricsRegistry`. Only that thread writes them, so a
/// request is counted with plain loads and stores of relaxed atomics (no lock, no read-modify-write);
/// a scrape reads them from another thread. The table of series is changed by the owner only, under
/// `lock`, which a scrape also takes; the owner reads it without.
final class RequestShard: @unchecked Sendable {
    let registryID: UInt64
    /// Read when the owning thread ends, to hand the counts over.
    weak var registry: MetricsRegistry?
    private let lock = Mutex<Void>(())
    private var table: [MetricsRegistry.RequestKey: RequestCounters] = [:]
    // Owner only: the series of the previous request (most requests repeat it).
    private var lastKey: MetricsRegistry.RequestKey?
    private var lastCounters: RequestCounters?

    init(registry: MetricsRegistry) {
        registryID = registry.id
        self.registry = registry
    }

    /// The counters of `key` (owner thread only).
    func counters(for key: MetricsRegistry.RequestKey) -> RequestCounters {
        if let lastCounters, lastKey == key { return lastCounters }
        let counters: RequestCounters
        if let found = table[key] {
            counters = found
        } else {
            counters = RequestCounters()
            lock.withLock { _ in table[key] = counters }
        }
        lastKey = key
        lastCounters = counters
        return counters
    }

    /// The counts so far, as values (any thread).
    func snapshot() -> [MetricsRegistry.RequestKey: MetricsRegistry.RequestCounts] {
        lock.withLock { _ in table.mapValues { $0.counts } }
    }
}

/// The counters of one series in one thread's shard.
final class RequestCounters: Sendable {
    private let requests = Atomic<Int>(0)
    private let bytes = Atomic<Int>(0)
    private let aborted = Atomic<Int>(0)
    /// The summed seconds, as the bit pattern of a Double.
    private let seconds = Atomic<UInt64>(0)
    private let buckets: InlineArray<16, Atomic<Int>> = InlineArray { _ in Atomic(0) }

    init() {
        precondition(buckets.count == MetricsRegistry.durationBounds.count + 1, "one bucket per duration bound and one above")
    }

    /// Counts one request (the owning thread only: load and store, not an atomic add).
    func add(bytes count: Int, aborted wasAborted: Bool, seconds elapsed: Double, bucket: Int) {
        Self.bump(requests, 1)
        Self.bump(bytes, count)
        if wasAborted { Self.bump(aborted, 1) }
        seconds.store((Double(bitPattern: seconds.load(ordering: .relaxed)) + elapsed).bitPattern, ordering: .relaxed)
        Self.bump(buckets[bucket], 1)
    }

    @inline(__always)
    private static func bump(_ counter: borrowing Atomic<Int>, _ count: Int) {
        counter.store(counter.load(ordering: .relaxed) &+ count, ordering: .relaxed)
    }

    var counts: MetricsRegistry.RequestCounts {
        var counts = MetricsRegistry.RequestCounts()
        counts.requests = requests.load(ordering: .relaxed)
        counts.bytes = bytes.load(ordering: .relaxed)
        counts.aborted = aborted.load(ordering: .relaxed)
        counts.seconds = Double(bitPattern: seconds.load(ordering: .relaxed))
        for index in counts.buckets.indices { counts.buckets[index] = buckets[index].load(ordering: .relaxed) }
        return counts
    }
}

/// The calling thread's request shards, one per registry it recorded into (in practice one: the
/// shared registry), found through a thread-specific key. When the thread ends, each shard hands
/// its counts to its registry, so threads that come and go do not grow the registry.
final class ThreadShards {
    private var shards: [RequestShard] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { raw in
            guard let raw else { return }
            Unmanaged<ThreadShards>.fromOpaque(raw).release()
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()

    deinit {
        for shard in shards { shard.registry?.retire(shard) }
    }

    /// The calling thread's shard of `registry`, made on first use.
    static func shard(of registry: MetricsRegistry) -> RequestShard {
        let list: ThreadShards
        if let raw = pthread_getspecific(key) {
            list = Unmanaged<ThreadShards>.fromOpaque(raw).takeUnretainedValue()
        } else {
            list = ThreadShards()
            pthread_setspecific(key, Unmanaged.passRetained(list).toOpaque())
        }
        let id = registry.id
        for shard in list.shards where shard.registryID == id { return shard }
        // Registries that are gone (tests make their own) leave the list first.
        list.shards.removeAll { $0.registry == nil }
        let shard = registry.makeShard()
        list.shards.append(shard)
        return shard
    }
}
