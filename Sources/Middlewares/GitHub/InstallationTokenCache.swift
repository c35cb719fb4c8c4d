import Pipeline
import Synchronization

/// A GitHub App's installation token, minted on first use and again shortly before it expires.
/// Minting is single-flight: however many requests need a token at the same moment, one
/// `POST /app/installations/{id}/access_tokens` is made and they all wait for it. A token GitHub
/// refuses with 401 is dropped once (`invalidate`), so the next caller mints a new one.
final class InstallationTokenCache: Sendable {
    struct Token: Sendable {
        let value: String
        /// Wall-clock seconds.
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
    }

    let app: GitHubApp
    let endpoint: String
    let client: HTTPClient
    let rateLimit: GitHubRateLimit
    /// Refresh this long before expiry at most (GitHub tokens live an hour).
    let refreshMargin: Double
    private let state = Mutex(State())
    private let mintedCount = Atomic<Int>(0)

    init(app: GitHubApp, endpoint: String, client: HTTPClient, rateLimit: GitHubRateLimit, refreshMargin: Double = 300) {
        self.app = app
        self.endpoint = endpoint
        self.client = client
        self.rateLimit = rateLimit
        self.refreshMargin = refreshMargin
    }

    /// How many tokens were minted so far.
    var minted: Int { mintedCount.load(ordering: .relaxed) }

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
            let task = Task { try await self.mint() }
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

    /// Drops `token` after GitHub refused it, unless a newer one already replaced it.
    func invalidate(_ token: String) {
        state.withLock { state in
            if state.current?.value == token { state.current = nil }
        }
    }

    private func mint() async throws -> Token {
        if let wait = rateLimit.retryAfter() { throw GitHubError.rateLimited(retryAfter: wait) }
        let issued = WallClock.now
        let jwt: String
        do {
            jwt = try app.jwt(now: issued)
        } catch {
            throw GitHubError.credentials("cannot sign the App JWT: \(error)")
        }
        let headers: HTTPFields = ["Accept": "application/vnd.github+json", "X-GitHub-Api-Version": GitHubAPI.version,
                                   "Authorization": "Bearer " + jwt]
        guard let request = Request(url: endpoint, method: .post, headers: headers) else {
            throw GitHubError.credentials("invalid token endpoint")
        }
        let response: ClientResponse
        let body: [UInt8]
        do {
            response = try await client.execute(request, followRedirects: false)
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch let error as ClientError {
            throw GitHubError.unavailable(error.description)
        } catch {
            throw GitHubError.unavailable("token answer too large")
        }
        let status = response.status.code
        if let wait = rateLimit.record(status: status, headers: response.headers, body: body) {
            throw GitHubError.rateLimited(retryAfter: wait)
        }
        switch status {
        case 200, 201:
            break
        case 401:
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
        // Refresh a little before expiry: at most `refreshMargin` early, and never later than three
        // quarters into the token's life, so short-lived tokens are refreshed too.
        let lifetime = max(0, expiresAt - issued)
        let refreshAt = expiresAt - min(refreshMargin, lifetime / 4)
        Log.info("github installation token minted", [("app", app.id), ("installation", app.installation),
                                                       ("expires_at", WallClock.format(expiresAt))])
        return Token(value: value, expiresAt: expiresAt, refreshAt: refreshAt)
    }

    /// GitHub's `message` field, for logs (it never contains the token).
    static func message(_ body: [UInt8]) -> String {
        (try? JSONParser.parse(body))?["message"]?.string ?? "no message"
    }
}
