import Pipeline
import Synchronization

/// One answer of the REST API with its body collected (metadata only, capped).
struct GitHubAnswer: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: [UInt8]
}

/// Makes REST calls the way GitHub asks integrations to: versioned media type, the
/// `X-GitHub-Api-Version` header, a few calls in flight at most (`slots`), none while the rate
/// limit is spent, the installation token taken only once a call may go, and one retry with a
/// fresh token after a 401. Downloads are API calls too: their redirect is recorded like any
/// answer and followed without credentials.
final class GitHubAPI: Sendable {
    /// The REST API version the source was written against.
    static let version = "2022-11-28"
    static let json = "application/vnd.github+json"
    /// File contents as raw bytes rather than base64 inside JSON ("Get repository content").
    static let raw = "application/vnd.github.raw+json"
    /// The request fields a download passes on to the storage host (a behaviour's `Range`, a
    /// cache's validators).
    static let forwardedToStorage = ["Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"]
    static let redirects: Set<Int> = [301, 302, 303, 307, 308]

    /// `https://api.github.com`, or `https://HOST/api/v3` on Enterprise Server.
    let base: HTTPURL
    let client: HTTPClient
    let credentials: GitHubCredentials
    let rateLimit: GitHubRateLimit
    let slots: GitHubCallSlots
    private let stopped = Atomic<Bool>(false)

    init(base: HTTPURL, client: HTTPClient, credentials: GitHubCredentials, rateLimit: GitHubRateLimit, slots: GitHubCallSlots) {
        var base = base
        if base.path.hasSuffix("/") { base.path.removeLast() }
        base.query = nil
        self.base = base
        self.client = client
        self.credentials = credentials
        self.rateLimit = rateLimit
        self.slots = slots
    }

    /// Refuses every later call (they throw `CancellationError`) and wakes calls waiting for a slot.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        slots.stop()
        if case .app(let tokens) = credentials { tokens.stop() }
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// The absolute URL of an API path such as `/repos/acme/vpc/tags`.
    func url(_ path: String, query: [(String, String)] = []) -> String {
        var text = base.origin + base.path + path
        if !query.isEmpty {
            text += "?" + query.map { "\($0.0)=\(PercentEncoding.encodeComponent($0.1))" }.joined(separator: "&")
        }
        return text
    }

    /// Whether `url` points into this API, so credentials may go with it (pagination links and
    /// redirects are followed with them only there).
    func isAPI(_ url: String) -> Bool {
        HTTPURL(url).map(isAPI) ?? false
    }

    func isAPI(_ url: HTTPURL) -> Bool {
        url.origin == base.origin && (base.path.isEmpty || url.path.hasPrefix(base.path + "/"))
    }

    /// The headers every call carries, plus `Authorization` when there is one.
    func headers(accept: String, authorization: String?) -> HTTPFields {
        var headers: HTTPFields = ["Accept": accept, "X-GitHub-Api-Version": Self.version]
        if let authorization { headers["Authorization"] = authorization }
        return headers
    }

    /// GETs `url`; with `etag` the call is conditional and an unchanged answer is a 304 that does
    /// not count against the rate limit. Throws `GitHubError` for rate limits, 5xx, transport
    /// failures and refused credentials; other statuses are returned for the caller to judge.
    func get(_ url: String, accept: String = GitHubAPI.json, etag: String? = nil, limit: Int) async throws -> GitHubAnswer {
        do {
            let response = try await send(url, accept: accept, extra: etag.map { ["If-None-Match": $0] } ?? [:], deadline: nil)
            let body = try await response.body.collect(upTo: limit)
            if response.status.code >= 500 { throw GitHubError.unavailable("answered \(response.status.code)") }
            return GitHubAnswer(status: response.status.code, headers: response.headers, body: body)
        } catch let error as ClientError {
            throw GitHubError.unavailable(error.description)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw GitHubError.tooLarge(limit: limit)
        }
    }

    /// Fetches what a download endpoint (`tarball`, `zipball`, an asset with
    /// `Accept: application/octet-stream`) names, for `upstream`: the API call is made like any
    /// other (slots, rate limit, token), and the storage URL it redirects to (codeload, the asset
    /// host: signed, needing no credentials and refusing them) is fetched without credentials,
    /// with the request's `Range` and validators. An API answer that is not a redirect (GitHub
    /// may stream an asset itself, or answer 404) is returned as it is. A spent rate limit throws
    /// `HTTPError` 503 with `Retry-After`; refused credentials 502.
    func download(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> ClientResponse {
        guard let url = request.url else { throw ClientError.invalidURL(request.target) }
        let answer: ClientResponse
        do {
            answer = try await send(url.description, accept: request.headers["Accept"] ?? Self.json, deadline: deadline)
        } catch let error as GitHubError {
            if case .rateLimited = error {} else { Log.error("github download refused", [("reason", error.description)]) }
            throw error.httpError
        }
        guard Self.redirects.contains(answer.status.code), let location = answer.headers["Location"],
              let storage = answer.url.resolving(location) else { return answer }
        // What was asked for over TLS is not fetched in the clear.
        if answer.url.scheme == "https", storage.scheme != "https" { throw ClientError.badResponse("redirect from https to http refused") }
        _ = try? await answer.body.collect(upTo: 64 << 10)
        var headers: HTTPFields = [:]
        for name in Self.forwardedToStorage { if let value = request.headers[name] { headers[name] = value } }
        guard let storageRequest = Request(url: storage.description, method: request.method, headers: headers) else {
            throw ClientError.invalidURL(storage.origin)
        }
        return try await client.execute(storageRequest, followRedirects: true, deadline: deadline)
    }

    /// One API call and the redirects within the API it leads to (a renamed repository answers
    /// 301 to `/repositories/{id}/…`), each made holding a call slot, after checking the rate
    /// limit, with the token taken last, and recorded in the rate limiter. A 401 drops the
    /// installation token and tries once more with a new one. Returns the first answer that is
    /// not a redirect within the API, its body still streaming (refusals' bodies are read, for
    /// their message). Throws `GitHubError` for rate limits and refused credentials, `ClientError`
    /// when GitHub cannot be reached.
    func send(_ url: String, accept: String, extra: HTTPFields = [:], deadline: ContinuousClock.Instant?) async throws -> ClientResponse {
        var target = url
        var hops = 0
        var retried = false
        while true {
            let (response, authorization) = try await call(target, accept: accept, extra: extra, deadline: deadline)
            let status = response.status.code
            let refusal = status == 401 || status == 403 || status == 429
            let body = refusal ? (try? await response.body.collect(upTo: 64 << 10)) ?? [] : []
            if let wait = rateLimit.record(status: status, headers: response.headers, body: body) {
                Log.warning("github rate limit reached", [("retry_after", "\(wait)s"), ("status", String(status))])
                throw GitHubError.rateLimited(retryAfter: wait)
            }
            if status == 401 {
                if !retried, credentials.refused(authorization) {
                    retried = true
                    continue
                }
                throw GitHubError.credentials("401 \(InstallationTokenCache.message(body))")
            }
            if Self.redirects.contains(status), let location = response.headers["Location"],
               let next = response.url.resolving(location), isAPI(next) {
                hops += 1
                guard hops <= client.configuration.maxRedirects else { throw ClientError.tooManyRedirects }
                _ = try? await response.body.collect(upTo: 64 << 10)
                target = next.description
                continue
            }
            guard refusal else { return response }
            var read = response
            read.body = IncomingBody(bytes: body)
            return read
        }
    }

    /// One request, holding a call slot from before the rate-limit check until its answer's head.
    private func call(_ url: String, accept: String, extra: HTTPFields, deadline: ContinuousClock.Instant?) async throws
        -> (ClientResponse, String?) {
        if isStopped { throw CancellationError() }
        try await slots.acquire()
        defer { slots.release() }
        if isStopped { throw CancellationError() }
        if let wait = rateLimit.retryAfter() { throw GitHubError.rateLimited(retryAfter: wait) }
        // Taken now, not before waiting for the slot: a token is used within its call's timeout.
        let authorization = try await credentials.authorization()
        var headers = headers(accept: accept, authorization: authorization)
        for field in extra { headers[field.name] = field.value }
        guard let request = Request(url: url, headers: headers) else { throw ClientError.invalidURL(url) }
        return (try await client.execute(request, followRedirects: false, deadline: deadline), authorization)
    }
}
