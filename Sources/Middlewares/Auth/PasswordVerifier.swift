import Pipeline
import Synchronization

/// Checks Basic passwords against their stored hashes for every `auth.basic` of the process, so a
/// reload does not make every client pay the deliberately slow hash again (issue 16: the latency
/// cliff after a SIGHUP).
///
/// * **Remembered verifications.** A password that verified is remembered for the middleware's
///   `cacheTTL`, keyed by an HMAC (under a random key of this process) of the user name, the
///   *stored hash string* and the password: the cache never holds a password, a new pipeline with
///   the same user and hash finds the entry, and a user whose hash changed or who was removed does
///   not (the key differs, or there is no stored hash to look up).
/// * **One hash per credential at a time.** Requests with the same credential while its hash runs
///   wait for that hash instead of starting their own (apt and CI runners open several connections
///   with the same password at once).
///
/// * **Known logins are not throttled.** Once `cacheTTL` has passed, a password that verified within
///   the last `knownFor` (a day) is hashed again, but without taking a throttle token: it is not a
///   guess, and an attacker at the same address (or guessing at the same user) must not be able to
///   lock a real user out when that user's remembered login runs out. Single-flight and the renewed
///   entry keep that to one hash per credential per `cacheTTL`.
///
/// Bounded: at most `capacity` entries (ones older than `knownFor` go first, then the oldest quarter); hashes
/// under way are bounded by the `BlockingPool` queue. Counts hashes and joined waits for /metrics.
final class PasswordVerifier: MetricsSource {
    /// The verifier of every `auth.basic` the configuration builds, across reloads.
    static let shared: PasswordVerifier = {
        let verifier = PasswordVerifier()
        MetricsRegistry.shared.register(verifier)
        return verifier
    }()

    private struct Entry {
        var verifiedAt: Int64
        var expires: Int64
    }

    private struct State {
        var entries: [[UInt8]: Entry] = [:]
        var flights: [[UInt8]: Task<Bool, any Error>] = [:]
        var hashes = 0
        var joined = 0
    }

    /// How long a verified password stays known (re-checked without the throttle once `cacheTTL` has passed).
    static let knownFor: Int64 = 86_400

    private let key = SecureRandom.bytes(32)
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// Password hashes computed so far (each one KDF run).
    var hashes: Int { state.withLock { $0.hashes } }
    /// Requests that waited for a hash another request had started.
    var joined: Int { state.withLock { $0.joined } }

    private func fingerprint(user: String, stored: PasswordHash, password: String) -> [UInt8] {
        // User names hold no NUL or ':' and the encoded hash no NUL, so the parts cannot run into each other.
        HMAC.sha256(key: key, data: Array((user + "\u{0}" + stored.encoded + "\u{0}" + password).utf8))
    }

    private enum Found {
        case verified
        case pending(Task<Bool, any Error>)
        /// No usable verification; `known` when this credential verified within `knownFor`.
        case none(known: Bool)
    }

    /// A verification of `id` no older than `ttl`, or a hash of it under way (which the caller joins).
    private func find(_ id: [UInt8], ttl: Int64, now: Int64, in state: inout State) -> Found {
        var known = false
        if ttl > 0, let entry = state.entries[id] {
            if entry.verifiedAt + ttl > now, entry.expires > now { return .verified }
            if entry.verifiedAt + Self.knownFor <= now { state.entries[id] = nil } else { known = true }
        }
        if let flight = state.flights[id] {
            state.joined += 1
            return .pending(flight)
        }
        return .none(known: known)
    }

    /// Whether `password` matches `stored` for `user`. True at once when it verified within `ttl`
    /// seconds (0: never remembered); otherwise waits for a hash of the same credential already under
    /// way, or calls `beforeHashing` (the throttle, which may throw; skipped for a credential that
    /// verified within `knownFor`) and runs the hash on the `BlockingPool`. `remember: false` (the
    /// decoy hash of an unknown user) keeps the result out of the cache.
    func verify(user: String, stored: PasswordHash, password: String, ttl: Int64, now: Int64, remember: Bool = true,
                beforeHashing: () throws -> Void) async throws -> Bool {
        let id = fingerprint(user: user, stored: stored, password: password)
        switch state.withLock({ find(id, ttl: ttl, now: now, in: &$0) }) {
        case .verified: return true
        case .pending(let flight): return try await flight.value
        case .none(let known): if !known { try beforeHashing() }
        }
        let flight: Task<Bool, any Error>? = state.withLock { state in
            switch find(id, ttl: ttl, now: now, in: &state) {
            case .verified: return nil
            case .pending(let flight): return flight
            case .none:
                // Unstructured: the hash finishes for those waiting even if the request that started it goes away.
                let flight = Task<Bool, any Error> {
                    do {
                        let valid = try await BlockingPool.shared.run {
                            self.state.withLock { $0.hashes += 1 }
                            return stored.verify(Array(password.utf8))
                        }
                        self.finish(id, valid: valid && remember, ttl: ttl, now: now)
                        return valid
                    } catch {
                        self.finish(id, valid: false, ttl: ttl, now: now)
                        throw error
                    }
                }
                state.flights[id] = flight
                return flight
            }
        }
        guard let flight else { return true }
        return try await flight.value
    }

    /// Ends the flight of `id`, remembering a valid result, in one step so a request arriving now
    /// finds either the flight or the entry.
    private func finish(_ id: [UInt8], valid: Bool, ttl: Int64, now: Int64) {
        state.withLock { state in
            state.flights[id] = nil
            guard valid, ttl > 0 else { return }
            if state.entries[id] == nil, state.entries.count >= capacity {
                state.entries = state.entries.filter { $0.value.verifiedAt + Self.knownFor > now }
                if state.entries.count >= capacity {
                    let oldest = state.entries.sorted { $0.value.verifiedAt < $1.value.verifiedAt }.prefix(capacity / 4 + 1)
                    for (key, _) in oldest { state.entries[key] = nil }
                }
            }
            state.entries[id] = Entry(verifiedAt: now, expires: now + ttl)
        }
    }

    var metricsKey: String { "auth.passwords" }

    func renderMetrics() -> String {
        let (hashes, joined) = state.withLock { ($0.hashes, $0.joined) }
        return """
            # HELP gateway_auth_password_hashes_total Password hashes computed for auth.basic (remembered and joined checks cost none).
            # TYPE gateway_auth_password_hashes_total counter
            gateway_auth_password_hashes_total \(hashes)
            # HELP gateway_auth_password_joined_total auth.basic checks that waited for the same credential's hash already under way.
            # TYPE gateway_auth_password_joined_total counter
            gateway_auth_password_joined_total \(joined)

            """
    }
}
