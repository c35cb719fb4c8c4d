/// A map from keys to values, each with a cost, ordered from most to least recently used: the
/// bookkeeping both cache tiers evict by. A doubly linked list threaded through an array, so a
/// touch or an eviction is O(1) and allocates nothing. Not synchronized: its store holds it in a mutex.
struct LRUIndex<Value> {
    fileprivate struct Slot {
        var key: String
        var value: Value?
        var cost: Int
        var newer: Int
        var older: Int
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var positions: [String: Int] = [:]
    private var newest = -1
    private var oldest = -1
    /// The sum of the costs of every value held.
    private(set) var totalCost = 0

    init() {}

    var count: Int { positions.count }

    /// The value for `key`, marked as just used.
    mutating func get(_ key: String) -> Value? {
        guard let slot = positions[key] else { return nil }
        moveToNewest(slot)
        return slots[slot].value
    }

    /// The value for `key` without changing the order.
    func peek(_ key: String) -> Value? {
        positions[key].flatMap { slots[$0].value }
    }

    /// Inserts or replaces `key` as the most recently used; returns the value it replaced.
    @discardableResult
    mutating func set(_ key: String, _ value: Value, cost: Int) -> Value? {
        if let slot = positions[key] {
            let old = slots[slot].value
            totalCost += cost - slots[slot].cost
            slots[slot].value = value
            slots[slot].cost = cost
            moveToNewest(slot)
            return old
        }
        let entry = Slot(key: key, value: value, cost: cost, newer: -1, older: -1)
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = entry
        } else {
            slot = slots.count
            slots.append(entry)
        }
        positions[key] = slot
        totalCost += cost
        link(slot)
        return nil
    }

    /// Changes the value kept for `key` (same cost, same place in the order).
    mutating func update(_ key: String, _ value: Value) {
        guard let slot = positions[key] else { return }
        slots[slot].value = value
    }

    @discardableResult
    mutating func remove(_ key: String) -> Value? {
        guard let slot = positions.removeValue(forKey: key) else { return nil }
        return release(slot)
    }

    /// Removes and returns the least recently used entry.
    mutating func removeOldest() -> (key: String, value: Value, cost: Int)? {
        guard oldest >= 0 else { return nil }
        let slot = oldest
        let key = slots[slot].key, cost = slots[slot].cost
        positions[key] = nil
        guard let value = release(slot) else { return nil }
        return (key, value, cost)
    }

    /// Keys from least to most recently used.
    var keysOldestFirst: [String] {
        var result: [String] = []
        var slot = oldest
        while slot >= 0 {
            result.append(slots[slot].key)
            slot = slots[slot].newer
        }
        return result
    }

    private mutating func release(_ slot: Int) -> Value? {
        unlink(slot)
        totalCost -= slots[slot].cost
        let value = slots[slot].value
        slots[slot].value = nil
        slots[slot].key = ""
        slots[slot].cost = 0
        freeSlots.append(slot)
        return value
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot)
        link(slot)
    }

    private mutating func link(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = -1
        if newest >= 0 { slots[newest].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let newer = slots[slot].newer, older = slots[slot].older
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[slot].newer = -1
        slots[slot].older = -1
    }
}

extension LRUIndex: Sendable where Value: Sendable {}
extension LRUIndex.Slot: Sendable where Value: Sendable {}
