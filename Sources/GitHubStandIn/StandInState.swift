import Pipeline
import Synchronization

/// Faults and limits tests switch at run time with `POST /_standin/knobs`.
struct Knobs: Sendable {
    /// Added before every answer of the API, codeload and objects listeners.
    var latencyMilliseconds = 0
    /// When set, every identity's primary limit is spent until this wall-clock time.
    var exhaustedUntil: Double?
    /// The next `count` API calls get a secondary-limit refusal (without `Retry-After` when nil).
    var secondary: (status: Int, retryAfter: Int?, count: Int)?
    /// The next `count` answers on listener `on` are this 5xx.
    var serverErrors: (status: Int, count: Int, on: String)?
    /// The next `count` bodies on listener `on` are cut after `afterBytes` by a connection reset.
    var resetBodies: (afterBytes: Int, count: Int, on: String)?
    /// Lifetime of newly minted installation tokens.
    var tokenLifetime: Double
    /// GitHub's clock minus the real one, in seconds: -90 plays a gateway whose clock runs 90 s fast.
    var clockSkew: Double = 0
    /// More API requests in flight than this get a secondary-limit refusal (GitHub: 100).
    var maxConcurrent = 100
    /// Installation tokens in GitHub's stateless format (`ghs_<app id>_<JWT>`, about 520
    /// characters with dots), as `X-GitHub-Stateless-S2S-Token: enabled` asks for one token.
    var statelessTokens = false
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
        /// API requests being answered now, and the most there were at once since the counters were reset.
        var inFlight = 0
        var peakInFlight = 0
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

    func resetCounters() {
        state.withLock { state in
            state.counters = [:]
            state.peakInFlight = state.inFlight
        }
    }

    /// The most API requests in flight at once since the counters were reset.
    var peakInFlight: Int { state.withLock { $0.peakInFlight } }

    /// Counts an API request in; false (and not counted) when `maxConcurrent` are already in flight.
    func enterAPI() -> Bool {
        state.withLock { state in
            guard state.inFlight < state.knobs.maxConcurrent else { return false }
            state.inFlight += 1
            state.peakInFlight = max(state.peakInFlight, state.inFlight)
            return true
        }
    }

    func leaveAPI() { state.withLock { $0.inFlight -= 1 } }

    // MARK: clock

    /// GitHub's time: the real clock moved by the `clockSkew` knob.
    var now: Double { WallClock.now + state.withLock { $0.knobs.clockSkew } }

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
    func takeSecondaryLimit() -> (status: Int, retryAfter: Int?)? {
        state.withLock { state in
            guard let fault = state.knobs.secondary, fault.count > 0 else { return nil }
            state.knobs.secondary = fault.count > 1 ? (fault.status, fault.retryAfter, fault.count - 1) : nil
            return (fault.status, fault.retryAfter)
        }
    }

    // MARK: tokens

    /// Mints an installation token: `ghs_` and 36 characters (GitHub's stateful format), or with
    /// `stateless` (nil: the knob decides) GitHub's stateless format, `ghs_<app id>_` and a JWT of
    /// about 520 characters in all, with two dots.
    func mintToken(installation: StandInConfig.Installation, stateless: Bool?, now: Double) -> (token: String, expiresAt: Double) {
        let (lifetime, statelessKnob) = state.withLock { ($0.knobs.tokenLifetime, $0.knobs.statelessTokens) }
        let expiresAt = (now + lifetime).rounded(.down)
        let token: String
        if stateless ?? statelessKnob {
            let claims = JSONObject([("iss", .number(Double(config.appID ?? 0))), ("installation_id", .number(Double(installation.id))),
                                     ("account", .string(installation.account)), ("iat", .number(now.rounded(.down))),
                                     ("exp", .number(expiresAt)), ("permissions", "contents:read,metadata:read"),
                                     ("jti", .string(SecureRandom.hex(80)))])
            let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
            let payload = Base64URL.encode(Array(JSONValue.object(claims).serialized().utf8))
            let signature = Base64URL.encode(HMAC.sha256(key: urlKey, data: Array("\(header).\(payload)".utf8)))
            token = "ghs_\(config.appID ?? 0)_\(header).\(payload).\(signature)"
        } else {
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
            token = "ghs_" + String(decoding: SecureRandom.bytes(36).map { alphabet[Int($0) % alphabet.count] }, as: UTF8.self)
        }
        state.withLock { state in
            state.tokens[token] = IssuedToken(installation: installation.id, account: installation.account, expiresAt: expiresAt)
        }
        return (token, expiresAt)
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
