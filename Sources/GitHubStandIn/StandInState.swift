import Pipeline
import Synchronization

/// Faults and limits tests switch at run time with `POST /_standin/knobs`.
struct Knobs: Sendable {
    /// Added before every answer of the API, codeload and objects listeners.
    var latencyMilliseconds = 0
    /// When set, every identity's primary limit is spent until this wall-clock time.
    var exhaustedUntil: Double?
    /// The next `count` API calls get a secondary-limit refusal.
    var secondary: (status: Int, retryAfter: Int, count: Int)?
    /// The next `count` answers on listener `on` are this 5xx.
    var serverErrors: (status: Int, count: Int, on: String)?
    /// The next `count` bodies on listener `on` are cut after `afterBytes` by a connection reset.
    var resetBodies: (afterBytes: Int, count: Int, on: String)?
    /// Lifetime of newly minted installation tokens.
    var tokenLifetime: Double
}

/// An installation token the stand-in issued.
struct IssuedToken: Sendable {
    let installation: Int
    let account: String
    let expiresAt: Double
}

/// The stand-in's mutable state: counters, knobs, issued tokens, rate-limit use, its own URLs and
/// the OIDC signing keys. One lock; every critical section is short.
final class StandInState: Sendable {
    struct URLs: Sendable {
        var api = ""
        var codeload = ""
        var objects = ""
        var oidc = ""
    }

    private struct Mutable {
        var counters: [String: Int] = [:]
        var knobs: Knobs
        var tokens: [String: IssuedToken] = [:]
        /// Rate-limit use per identity: calls used and the wall-clock reset time.
        var usage: [String: (used: Int, reset: Double)] = [:]
        var urls = URLs()
        var oidcKeys: [(kid: String, key: PrivateKey, published: Bool)] = []
    }

    let config: StandInConfig
    let fixtures: FixtureStore
    /// Signs redirect URLs for codeload and objects (their only credential, as on GitHub).
    let urlKey = SecureRandom.bytes(32)
    private let state: Mutex<Mutable>

    init(config: StandInConfig, fixtures: FixtureStore) throws {
        self.config = config
        self.fixtures = fixtures
        let key = try PrivateKey.generate(.rsa(bits: 2048))
        state = Mutex(Mutable(knobs: Knobs(tokenLifetime: config.tokenLifetime), oidcKeys: [("standin-1", key, true)]))
    }

    // MARK: counters

    /// Adds one to each named counter.
    func count(_ names: String...) {
        state.withLock { state in for name in names { state.counters[name, default: 0] += 1 } }
    }

    var counters: [String: Int] { state.withLock { $0.counters } }

    func resetCounters() { state.withLock { $0.counters = [:] } }

    // MARK: knobs

    var knobs: Knobs { state.withLock { $0.knobs } }

    func updateKnobs(_ change: (inout Knobs) -> Void) { state.withLock { change(&$0.knobs) } }

    /// Consumes one injected 5xx for listener `kind`, if any.
    func takeServerError(_ kind: String) -> Int? {
        state.withLock { state in
            guard let fault = state.knobs.serverErrors, fault.on == kind || fault.on == "all", fault.count > 0 else { return nil }
            state.knobs.serverErrors = fault.count > 1 ? (fault.status, fault.count - 1, fault.on) : nil
            return fault.status
        }
    }

    /// Consumes one injected body reset for listener `kind`, if any.
    func takeBodyReset(_ kind: String) -> Int? {
        state.withLock { state in
            guard let fault = state.knobs.resetBodies, fault.on == kind || fault.on == "all", fault.count > 0 else { return nil }
            state.knobs.resetBodies = fault.count > 1 ? (fault.afterBytes, fault.count - 1, fault.on) : nil
            return fault.afterBytes
        }
    }

    /// Consumes one injected secondary-limit refusal, if any.
    func takeSecondaryLimit() -> (status: Int, retryAfter: Int)? {
        state.withLock { state in
            guard let fault = state.knobs.secondary, fault.count > 0 else { return nil }
            state.knobs.secondary = fault.count > 1 ? (fault.status, fault.retryAfter, fault.count - 1) : nil
            return (fault.status, fault.retryAfter)
        }
    }

    // MARK: tokens

    /// Mints an installation token (`ghs_` and 36 characters, like GitHub's).
    func mintToken(installation: StandInConfig.Installation, now: Double) -> (token: String, expiresAt: Double) {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        let token = "ghs_" + String(decoding: SecureRandom.bytes(36).map { alphabet[Int($0) % alphabet.count] }, as: UTF8.self)
        return state.withLock { state in
            let expiresAt = (now + state.knobs.tokenLifetime).rounded(.down)
            state.tokens[token] = IssuedToken(installation: installation.id, account: installation.account, expiresAt: expiresAt)
            return (token, expiresAt)
        }
    }

    func issuedToken(_ token: String) -> IssuedToken? { state.withLock { $0.tokens[token] } }

    /// Forgets every issued installation token (as if the App's installation was suspended and
    /// resumed): callers holding one get 401 and must mint again.
    func revokeTokens() { state.withLock { $0.tokens = [:] } }

    // MARK: rate limit

    /// The identity's limit state after optionally using one call: (limit, remaining, reset, used).
    func rateLimit(for identity: String, limit: Int, use: Bool, now: Double) -> (limit: Int, remaining: Int, reset: Int64, used: Int) {
        state.withLock { state in
            var entry = state.usage[identity] ?? (0, (now + 3600).rounded(.down))
            if now >= entry.reset { entry = (0, (now + 3600).rounded(.down)) }
            if use { entry.used += 1 }
            state.usage[identity] = entry
            if let until = state.knobs.exhaustedUntil {
                if now < until { return (limit, 0, Int64(until), max(entry.used, limit)) }
                state.knobs.exhaustedUntil = nil
            }
            return (limit, max(0, limit - entry.used), Int64(entry.reset), entry.used)
        }
    }

    // MARK: URLs

    var urls: URLs { state.withLock { $0.urls } }

    func setURLs(_ urls: URLs) { state.withLock { $0.urls = urls } }

    // MARK: OIDC keys

    /// The key new OIDC tokens are signed with.
    var currentOIDCKey: (kid: String, key: PrivateKey) {
        state.withLock { state in
            let last = state.oidcKeys.last!
            return (last.kid, last.key)
        }
    }

    /// The keys the JWKS lists.
    var publishedOIDCKeys: [(kid: String, key: PrivateKey)] {
        state.withLock { $0.oidcKeys.filter(\.published).map { ($0.kid, $0.key) } }
    }

    /// Adds a new signing key (listed in the JWKS) and makes it current; `dropOld` unlists the others.
    func rotateOIDCKey(dropOld: Bool) throws -> String {
        let key = try PrivateKey.generate(.rsa(bits: 2048))
        return state.withLock { state in
            let kid = "standin-\(state.oidcKeys.count + 1)"
            if dropOld { for i in state.oidcKeys.indices { state.oidcKeys[i].published = false } }
            state.oidcKeys.append((kid, key, true))
            return kid
        }
    }
}
