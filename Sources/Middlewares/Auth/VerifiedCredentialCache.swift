import Pipeline
import Synchronization

/// Remembers credentials that verified recently, so a client that sends its password on every
/// request (apt does, for every index and .deb) pays the deliberately slow hash once per `ttl`.
/// Entries are keyed by an HMAC of the credentials under a random key of this value, so the cache
/// never holds a password. Bounded: when full, expired entries go, then everything.
final class VerifiedCredentialCache: Sendable {
    private let key = SecureRandom.bytes(32)
    private let ttl: Int64
    private let capacity: Int
    private let entries = Mutex<[[UInt8]: Int64]>([:])

    init(ttl: Duration, capacity: Int = 1024) {
        self.ttl = Int64(ttl.seconds)
        self.capacity = capacity
    }

    private func fingerprint(_ parts: [String]) -> [UInt8] {
        HMAC.sha256(key: key, data: Array(parts.joined(separator: "\u{0}").utf8))
    }

    func contains(_ parts: [String], now: Int64) -> Bool {
        guard ttl > 0 else { return false }
        let id = fingerprint(parts)
        return entries.withLock { entries in
            guard let expires = entries[id] else { return false }
            if expires > now { return true }
            entries[id] = nil
            return false
        }
    }

    func insert(_ parts: [String], now: Int64) {
        guard ttl > 0 else { return }
        let id = fingerprint(parts)
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value > now }
                if entries.count >= capacity { entries.removeAll() }
            }
            entries[id] = now + ttl
        }
    }
}
