import Pipeline
import Synchronization

/// Password-hash attempts as token buckets per client address and per user name, so one abuser
/// cannot keep every hashing worker busy and deny logins to everyone (issue 16). Each bucket holds
/// a minute's worth of attempts and refills continuously. Over either, the request gets 429 with
/// `Retry-After` and no hash runs. A login the verified-credential cache already knows costs no
/// hash and is never throttled. Memory is bounded: past `maxEntries` addresses, buckets that have
/// refilled are forgotten (and if that is not enough, all of them).
final class HashThrottle: Sendable {
    struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    private struct State {
        var addresses: [String: Bucket] = [:]
        var users: [String: Bucket] = [:]
    }

    static let maxEntries = 10_000
    /// Attempts per minute (and the burst) per client address and per user name; 0 turns it off.
    let perAddress: Int
    let perUser: Int
    private let state = Mutex(State())

    init(perAddress: Int, perUser: Int) {
        self.perAddress = perAddress
        self.perUser = perUser
    }

    enum Refusal: String {
        case address, user
    }

    /// Takes one attempt for `address` and, when known, `user`. Nil when the hash may run;
    /// otherwise what was over its limit and the whole seconds until an attempt is allowed.
    func take(address: String, user: String?, now: ContinuousClock.Instant = .now) -> (Refusal, Int)? {
        let refusal: (Refusal, Int)? = state.withLock { state in
            var byAddress = Self.refill(state.addresses[address], perMinute: perAddress, now: now)
            var byUser = user.map { Self.refill(state.users[$0], perMinute: perUser, now: now) }
            if perAddress > 0, byAddress.tokens < 1 { return (.address, Self.wait(byAddress, perMinute: perAddress)) }
            if perUser > 0, let bucket = byUser, bucket.tokens < 1 { return (.user, Self.wait(bucket, perMinute: perUser)) }
            if perAddress > 0 {
                byAddress.tokens -= 1
                Self.store(byAddress, at: address, in: &state.addresses, perMinute: perAddress, now: now)
            }
            if perUser > 0, let user, var bucket = byUser {
                bucket.tokens -= 1
                byUser = bucket
                Self.store(bucket, at: user, in: &state.users, perMinute: perUser, now: now)
            }
            return nil
        }
        if let refusal { AuthThrottleMetrics.shared.count(refusal.0) }
        return refusal
    }

    private static func refill(_ bucket: Bucket?, perMinute: Int, now: ContinuousClock.Instant) -> Bucket {
        let capacity = Double(perMinute)
        guard var bucket else { return Bucket(tokens: capacity, last: now) }
        let elapsed = now - bucket.last
        if elapsed > .zero {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + seconds * capacity / 60)
            bucket.last = now
        }
        return bucket
    }

    private static func wait(_ bucket: Bucket, perMinute: Int) -> Int {
        max(1, Int(((1 - bucket.tokens) * 60 / Double(perMinute)).rounded(.up)))
    }

    private static func store(_ bucket: Bucket, at key: String, in table: inout [String: Bucket], perMinute: Int, now: ContinuousClock.Instant) {
        if table[key] == nil, table.count >= maxEntries {
            table = table.filter { refill($0.value, perMinute: perMinute, now: now).tokens < Double(perMinute) }
            if table.count >= maxEntries { table = [:] }
        }
        table[key] = bucket
    }
}

/// The refusals of every `auth.basic` throttle, rendered in /metrics as
/// `gateway_auth_throttled_total{limit="address"|"user"}`. One process-wide source.
final class AuthThrottleMetrics: MetricsSource {
    static let shared: AuthThrottleMetrics = {
        let metrics = AuthThrottleMetrics()
        MetricsRegistry.shared.register(metrics)
        return metrics
    }()

    private let counts = Mutex((address: 0, user: 0))

    var metricsKey: String { "auth.throttle" }

    func count(_ refusal: HashThrottle.Refusal) {
        counts.withLock { counts in
            switch refusal {
            case .address: counts.address += 1
            case .user: counts.user += 1
            }
        }
    }

    var values: (address: Int, user: Int) { counts.withLock { $0 } }

    func renderMetrics() -> String {
        let (address, user) = values
        return """
            # HELP gateway_auth_throttled_total Logins refused with 429 before any password hash, by the limit they passed.
            # TYPE gateway_auth_throttled_total counter
            gateway_auth_throttled_total{limit="address"} \(address)
            gateway_auth_throttled_total{limit="user"} \(user)

            """
    }
}
