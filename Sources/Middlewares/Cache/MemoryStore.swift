import Synchronization

/// The memory tier: whole responses, least recently used evicted first, within a byte budget.
/// Objects above `maxObjectBytes` are never held here, so one large object cannot flush the tier.
final class MemoryStore: Sendable {
    let budget: Int
    let maxObjectBytes: Int
    private let index = Mutex(LRUIndex<CacheEntry>())

    init(budget: Int, maxObjectBytes: Int) {
        self.budget = budget
        self.maxObjectBytes = maxObjectBytes
    }

    /// Whether a body of `length` bytes may be kept here.
    func accepts(length: Int64) -> Bool { budget > 0 && length <= Int64(maxObjectBytes) }

    func get(_ key: String) -> CacheEntry? {
        index.withLock { $0.get(key) }
    }

    /// Stores `entry` (replacing any older one) and evicts until within budget; returns the evictions.
    @discardableResult
    func put(_ entry: CacheEntry) -> Int {
        let cost = entry.memoryCost
        guard budget > 0, cost <= budget else { return 0 }
        return index.withLock { index in
            index.set(entry.head.key, entry, cost: cost)
            var evicted = 0
            while index.totalCost > budget, let oldest = index.removeOldest() {
                evicted += oldest.key == entry.head.key ? 0 : 1
            }
            return evicted
        }
    }

    /// Replaces the head of a stored entry (a 304 refreshed it), keeping its body.
    func refresh(_ key: String, head: StoredHead) {
        index.withLock { index in
            guard let entry = index.peek(key) else { return }
            index.update(key, CacheEntry(head: head, body: entry.body))
        }
    }

    /// Every key held, least recently used first.
    var keys: [String] { index.withLock { $0.keysOldestFirst } }

    func contains(_ key: String) -> Bool {
        index.withLock { $0.peek(key) != nil }
    }

    func remove(_ key: String) {
        _ = index.withLock { $0.remove(key) }
    }

    var usage: (entries: Int, bytes: Int) {
        index.withLock { ($0.count, $0.totalCost) }
    }
}
