import Pipeline

/// A complete stored response: its head and where its body is. Only whole, verified bodies ever
/// become entries; a fill that failed never does.
struct CacheEntry: Sendable {
    enum Body: Sendable {
        /// Held in the memory tier.
        case memory([UInt8])
        /// A file of the disk tier whose first `head.length` bytes are the body.
        case disk(path: String)
    }

    var head: StoredHead
    let body: Body

    /// Bytes this entry costs in the memory tier (body plus a rough allowance for the head).
    var memoryCost: Int {
        var cost = 256 + head.key.utf8.count
        for field in head.headers { cost += field.name.utf8.count + field.value.utf8.count + 32 }
        if case .memory(let bytes) = body { cost += bytes.count }
        return cost
    }
}
