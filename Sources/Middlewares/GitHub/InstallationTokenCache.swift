import Pipeline
import Synchronization

/// A GitHub App's installation token, minted on first use and again shortly before it expires.
/// Minting is single-flight: however many requests need a token at the same moment, one
/// `POST /app/installations/{id}/access_tokens` is made and they all wait for it. A token GitHub
/// refuses with 401 is dropped once (`invalidate`), so the next caller mints a new one.
///
/// Times are GitHub's, not this host's: a token's life is measured against the `Date` of the
/// answer that brought it, and when GitHub refuses the App JWT while its `Date` shows this host's
/// clock off by more than `skewTolerance`, the JWT is signed again with GitHub's time (and
/// every later one too), so a host whose clock runs fast still gets tokens.
final class InstallationTokenCache: Sendable {
    struct Token: Sendable {
        let value: String
        /// Wall-clock seconds of this host by which GitHub will have expired it at the earliest.
        let expiresAt: Double
        let refreshAt: Double
    }

    private struct State {
        var current: Token?
        var inflight: (id: Int, task: Task<Token, any Error>)?
        var nextID = 0
        /// A recent failure, repeated to callers for a few seconds so a wrong key does not turn
        /// every client request into a refused mint.
        var failure: (error: GitHubError, until: Double)?
        /// This host's clock minus GitHub's, in seconds, once GitHub refused a JWT for it.
        var clockOffset: Double = 0
    }

    let app: GitHubApp
    let endpoint: String
    let client: HTTPClient
    let rateLimit: GitHubRateLimit
    /// Refresh this long before expiry at most (GitHub tokens live an hour).
    let refreshMargin: Double
    /// The longest a call may take to reach GitHub with a token (the source's `timeout`): a token
    /// is not handed out when it could expire before its call arrives.
    let callTimeout: Double
    private let state = Mutex(State())
    private let mintedCount = Atomic<Int>(0)

    init(app: GitHubApp, endpoint: String, client: HTTPClient, rateLimit: GitHubRateLimit, refreshMargin: Double = 300,
         callTimeout: Double = 30) {
        self.app = app
        self.endpoint = endpoint
        self.client = client
        self.rateLimit = rateLimit
        self.refreshMargin = refreshMargin
        self.callTimeout = callTimeout
    }

    /// How many tokens were minted so far.
    var minted: Int { mintedCount.load(ordering: .relaxed) }

    /// This host's clock minus GitHub's as last corrected (0 until GitHub refused a JWT for it).
    var clockOffset: Double { state.withLock { $0.clockOffset } }

    /// How long before a token's expiry it is replaced: at least a call's timeout (a call that
    /// took the token may still be on its way that long; under load that is seconds, not the
    /// milliseconds of an idle machine), normally `refreshMargin` (five minutes of an hour), and
    /// never more than half the token's life, so a short-lived token is still used for a while.
    func margin(lifetime: Double) -> Double {
        max(min(refreshMargin, lifetime / 4), min(callTimeout, lifetime / 2))
    }

    /// A token valid for a while yet, minting one if needed.
    func token() async throws -> String {
        let now = WallClock.now
        enum Step { case ready(String), wait(Task<Token, any Error>, Int) }
        let step: Step = try state.withLock { state in
            if let current = state.current, now < current.refreshAt { return .ready(current.value) }
            if let inflight = state.inflight { return .wait(inflight.task, inflight.id) }
            if let failure = state.failure, now < failure.until { throw failure.error }
            state.nextID += 1
            let id = state.nextID
            let task = Task(executorPreference: EventLoop.current) { try await self.mint() }
            state.inflight = (id, task)
            return .wait(task, id)
        }
        switch step {
        case .ready(let value): return value
        case .wait(let task, let id): return try await wait(for: task, id: id)
        }
    }

    private func wait(for task: Task<Token, any Error>, id: Int) async throws -> String {
        do {
            let token = try await task.value
            state.withLock { state in
                if state.inflight?.id == id {
                    state.inflight = nil
                    state.current = token
                    state.failure = nil
                }
            }
            return token.value
        } catch {
            let failure = error as? GitHubError ?? .unavailable("\(error)")
            state.withLock { state in
                if state.inflight?.id == id {
                    state.inflight = nil
                    if case .rateLimited = failure {} else { state.failure = (failure, WallClock.now + 5) }
                }
            }
            throw failure
        }
    }

    /// Cancels a mint in flight (the source was stopped).
    func stop() {
        let task = state.withLock { state in
            defer { state.inflight = nil }
            return state.inflight?.task
        }
        task?.cancel()
    }

    /// Drops `token` after GitHub refused it, unless a newer one already replaced it.
    func invalidate(_ token: String) {
        state.withLock { state in
            if state.current?.value == token { state.current = nil }
        }
    }

    private func mint() async throws -> Token {
        if let wait = rateLimit.retryAfter() { throw GitHubError.rateLimited(retryAfter: wait) }
        var offset = clockOffset
        var corrected = false
        while true {
            let (status, headers, body, sentAt) = try await exchange(jwtAt: WallClock.now - offset)
            let githubDate = headers["Date"].flatMap(HTTPDate.parse).map(Double.init)
            if let wait = rateLimit.record(status: status, headers: headers, body: body) {
                throw GitHubError.rateLimited(retryAfter: wait)
            }
            switch status {
            case 200, 201:
                break
            case 401:
                // GitHub refuses a JWT issued in its future or expiring more than 10 minutes ahead of
                // its clock: with this host's clock off, sign once more in GitHub's time.
                if !corrected, let githubDate, let skew = Self.skew(sentAt: sentAt, githubDate: githubDate, assumed: offset) {
                    Log.warning("github clock skew", [("skew", "\(Int(skew.rounded()))s"), ("app", app.id),
                                                      ("hint", "this host's clock differs from GitHub's; the App JWT is signed in GitHub's time")])
                    offset = skew
                    corrected = true
                    state.withLock { $0.clockOffset = skew }
                    continue
                }
                throw GitHubError.credentials("the App JWT was refused (check the App id and private key): \(Self.message(body))")
            case 403, 404:
                throw GitHubError.credentials("installation \(app.installation) of App \(app.id) is not usable: \(Self.message(body))")
            case 500...599:
                throw GitHubError.unavailable("token endpoint answered \(status)")
            default:
                throw GitHubError.unexpected(status: status, "token endpoint: \(Self.message(body))")
            }
            guard let json = try? JSONParser.parse(body), let value = json["token"]?.string, !value.isEmpty,
                  let expiresAt = json["expires_at"]?.string.flatMap(WallClock.parse) else {
                throw GitHubError.unexpected(status: status, "token answer without token or expires_at")
            }
            mintedCount.wrappingAdd(1, ordering: .relaxed)
            // The token's life in GitHub's time, placed on this host's clock from when the request
            // left: `Date` is whole seconds, so a second less. Without a `Date`, the offset known.
            let lifetime = max(0, expiresAt - (githubDate ?? (sentAt - offset)))
            let localExpiry = githubDate == nil ? expiresAt + offset : sentAt + lifetime - 1
            Log.info("github installation token minted", [("app", app.id), ("installation", app.installation),
                                                           ("expires_at", WallClock.format(expiresAt))])
            return Token(value: value, expiresAt: localExpiry, refreshAt: localExpiry - margin(lifetime: lifetime))
        }
    }

    /// One token request with a JWT issued at `now` (GitHub's time as far as known).
    private func exchange(jwtAt now: Double) async throws -> (status: Int, headers: HTTPFields, body: [UInt8], sentAt: Double) {
        let jwt: String
        do {
            jwt = try app.jwt(now: now)
        } catch {
            throw GitHubError.credentials("cannot sign the App JWT: \(error)")
        }
        let headers: HTTPFields = ["Accept": GitHubAPI.json, "X-GitHub-Api-Version": GitHubAPI.version, "Authorization": "Bearer " + jwt]
        guard let request = Request(url: endpoint, method: .post, headers: headers) else {
            throw GitHubError.credentials("invalid token endpoint")
        }
        let sentAt = WallClock.now
        do {
            let response = try await client.execute(request, followRedirects: false)
            let body = try await response.body.collect(upTo: 64 * 1024)
            return (response.status.code, response.headers, body, sentAt)
        } catch let error as ClientError {
            throw GitHubError.unavailable(error.description)
        } catch {
            throw GitHubError.unavailable("token answer too large")
        }
    }

    /// Clocks further apart than this are corrected (`Date` is whole seconds and a request takes
    /// a while; GitHub's own tolerance is the minute the JWT's `iat` is set back).
    static let skewTolerance = 10.0

    /// This host's clock minus GitHub's as a request sent at `sentAt` and answered with `Date:
    /// githubDate` shows it, when that differs from the offset `assumed` by more than the
    /// tolerance; nil when the JWT's times were not the problem.
    static func skew(sentAt: Double, githubDate: Double, assumed: Double) -> Double? {
        let measured = sentAt - githubDate
        return abs(measured - assumed) > skewTolerance ? measured : nil
    }

    /// GitHub's `message` field, for logs (it never contains the token).
    static func message(_ body: [UInt8]) -> String {
        (try? JSONParser.parse(body))?["message"]?.string ?? "no message"
    }
}
