import Pipeline
import Synchronization

/// An OpenID provider's signing keys, fetched lazily and cached: discovery at
/// `<issuer>/.well-known/openid-configuration` gives `jwks_uri` (read, never derived: GHEC custom
/// issuers point to the root JWKS, apt.md §6), whose keys are kept for `maxAge`.
///
/// A token naming an unknown `kid` (the issuer rotated keys) triggers one refetch, but fetches
/// never start more often than once per `minInterval`, so a flood of made-up kids costs the
/// issuer at most one request per interval. Concurrent requests share one fetch. When a refresh
/// fails, the previous keys stay in use. Keys older than `maxAge` still answer for the kids they
/// hold while a refresh runs in the background, so an expiry never makes every request wait.
public final class OIDCKeySource: Stoppable {
    /// The keys cannot be had (never fetched successfully and the last attempt failed).
    public struct Unavailable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "issuer keys unavailable: \(reason)" }
    }

    public let issuer: String
    let fetcher: any OIDCDocumentFetcher
    let minInterval: Duration
    let maxAge: Duration
    let clock: @Sendable () -> ContinuousClock.Instant

    private struct State {
        var keys: JWKSet?
        var fetchedAt: ContinuousClock.Instant?
        var lastAttempt: ContinuousClock.Instant?
        var lastError: String?
        var inFlight: Task<Result<JWKSet, Unavailable>, Never>?
        var fetches = 0
        var stopped = false
    }

    private let state = Mutex(State())

    public init(issuer: String, fetcher: any OIDCDocumentFetcher, minInterval: Duration = .seconds(60), maxAge: Duration = .seconds(3600),
                clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.issuer = issuer
        self.fetcher = fetcher
        self.minInterval = minInterval
        self.maxAge = maxAge
        self.clock = clock
    }

    /// Cancels a fetch in flight and starts no more (a reload replaced the middleware holding it);
    /// keys already fetched still answer.
    public func stop() async {
        let task = state.withLock { state in
            state.stopped = true
            return state.inFlight
        }
        task?.cancel()
    }

    /// How many fetch rounds (discovery + JWKS) have started; for tests and metrics.
    public var fetchCount: Int { state.withLock { $0.fetches } }

    /// The key for `id` usable with `algorithm`, or nil when the issuer has no such key.
    public func key(id: String?, algorithm: SignatureAlgorithm) async throws(Unavailable) -> PublicKey? {
        enum Step {
            case found(PublicKey?)
            case wait(Task<Result<JWKSet, Unavailable>, Never>)
            case fail(Unavailable)
        }
        let now = clock()
        let step: Step = state.withLock { state in
            let fresh = state.fetchedAt.map { now - $0 < maxAge } ?? false
            if let keys = state.keys, fresh {
                if let key = keys.key(id: id, algorithm: algorithm) { return .found(key) }
                // A known kid with the wrong algorithm, or no kid: a refetch would not change the answer.
                if id == nil || keys.contains(id: id!) { return .found(nil) }
            }
            let mayFetch = !state.stopped && state.inFlight == nil && state.lastAttempt.map { now - $0 >= minInterval } ?? true
            if let keys = state.keys, !fresh, let key = keys.key(id: id, algorithm: algorithm) {
                // Aged out but holding this kid: answer now, refresh behind it.
                if mayFetch { _ = startFetch(&state, now) }
                return .found(key)
            }
            if let task = state.inFlight { return .wait(task) }
            if !mayFetch {
                if let keys = state.keys { return .found(keys.key(id: id, algorithm: algorithm)) }
                return .fail(Unavailable(reason: state.lastError ?? "fetch failed"))
            }
            return .wait(startFetch(&state, now))
        }
        switch step {
        case .found(let key):
            return key
        case .fail(let error):
            throw error
        case .wait(let task):
            let result = await task.value
            let keys: JWKSet? = state.withLock { $0.keys }
            guard let keys else {
                if case .failure(let error) = result { throw error }
                return nil
            }
            return keys.key(id: id, algorithm: algorithm)
        }
    }

    /// Starts a fetch round whose result the task itself stores (waiters or not). Called with the
    /// lock held, so the task's store, which takes the lock, comes after `inFlight` is set.
    private func startFetch(_ state: inout State, _ now: ContinuousClock.Instant) -> Task<Result<JWKSet, Unavailable>, Never> {
        state.lastAttempt = now
        state.fetches += 1
        let task = Task(executorPreference: EventLoop.current) { () -> Result<JWKSet, Unavailable> in
            let result = await self.fetch()
            self.state.withLock { state in
                state.inFlight = nil
                switch result {
                case .success(let keys):
                    state.keys = keys
                    state.fetchedAt = self.clock()
                    state.lastError = nil
                case .failure(let error):
                    state.lastError = error.reason
                }
            }
            return result
        }
        state.inFlight = task
        return task
    }

    private func fetch() async -> Result<JWKSet, Unavailable> {
        let discoveryURL = (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
        do {
            let discovery = try await fetcher.fetchJSON(discoveryURL)
            // OpenID Connect Discovery 1.0 §4.3: the document must name exactly this issuer.
            guard discovery["issuer"]?.string == issuer else {
                return failure("discovery document names another issuer")
            }
            guard let jwksURI = discovery["jwks_uri"]?.string, jwksURI.hasPrefix("https://") else {
                return failure("discovery document has no https jwks_uri")
            }
            let keys = try JWKSet(await fetcher.fetchJSON(jwksURI))
            var fields = [("issuer", issuer), ("keys", "\(keys.count)")]
            if !keys.skipped.isEmpty { fields.append(("skipped", keys.skipped.joined(separator: "; "))) }
            Log.info("oidc keys fetched", fields)
            return .success(keys)
        } catch {
            return failure("\(error)")
        }
    }

    private func failure(_ reason: String) -> Result<JWKSet, Unavailable> {
        Log.warning("oidc keys unavailable", [("issuer", issuer), ("reason", reason)])
        return .failure(Unavailable(reason: reason))
    }
}
