import Pipeline

/// One answer of the REST API with its body collected (metadata only, capped).
struct GitHubAnswer: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: [UInt8]
}

/// Makes REST calls the way GitHub asks integrations to: versioned media type, the
/// `X-GitHub-Api-Version` header, one call at a time per need (the cache coalesces), no call while
/// the rate limit is spent, and one retry with a fresh installation token after a 401.
final class GitHubAPI: Sendable {
    /// The REST API version the source was written against.
    static let version = "2022-11-28"
    static let json = "application/vnd.github+json"
    /// File contents as raw bytes rather than base64 inside JSON ("Get repository content").
    static let raw = "application/vnd.github.raw+json"

    /// `https://api.github.com`, or `https://HOST/api/v3` on Enterprise Server.
    let base: HTTPURL
    let client: HTTPClient
    let credentials: GitHubCredentials
    let rateLimit: GitHubRateLimit

    init(base: HTTPURL, client: HTTPClient, credentials: GitHubCredentials, rateLimit: GitHubRateLimit) {
        var base = base
        if base.path.hasSuffix("/") { base.path.removeLast() }
        base.query = nil
        self.base = base
        self.client = client
        self.credentials = credentials
        self.rateLimit = rateLimit
    }

    /// The absolute URL of an API path such as `/repos/acme/vpc/tags`.
    func url(_ path: String, query: [(String, String)] = []) -> String {
        var text = base.origin + base.path + path
        if !query.isEmpty {
            text += "?" + query.map { "\($0.0)=\(PercentEncoding.encodeComponent($0.1))" }.joined(separator: "&")
        }
        return text
    }

    /// Whether `url` points into this API, so credentials may go with it (pagination links are
    /// followed only there).
    func isAPI(_ url: String) -> Bool {
        guard let parsed = HTTPURL(url) else { return false }
        return parsed.origin == base.origin && (base.path.isEmpty || parsed.path.hasPrefix(base.path + "/"))
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
        var attempt = 0
        while true {
            attempt += 1
            if let wait = rateLimit.retryAfter() { throw GitHubError.rateLimited(retryAfter: wait) }
            let authorization = try await credentials.authorization()
            var headers = headers(accept: accept, authorization: authorization)
            if let etag { headers["If-None-Match"] = etag }
            guard let request = Request(url: url, headers: headers) else { throw GitHubError.unexpected(status: 0, "invalid URL") }
            let answer: GitHubAnswer
            do {
                let response = try await client.execute(request, followRedirects: true)
                let body = try await response.body.collect(upTo: limit)
                answer = GitHubAnswer(status: response.status.code, headers: response.headers, body: body)
            } catch let error as ClientError {
                throw GitHubError.unavailable(error.description)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw GitHubError.tooLarge(limit: limit)
            }
            if let wait = rateLimit.record(status: answer.status, headers: answer.headers, body: answer.body) {
                Log.warning("github rate limit reached", [("retry_after", "\(wait)s")])
                throw GitHubError.rateLimited(retryAfter: wait)
            }
            switch answer.status {
            case 401:
                if attempt == 1, credentials.refused(authorization) { continue }
                throw GitHubError.credentials("401 \(InstallationTokenCache.message(answer.body))")
            case 500...599:
                throw GitHubError.unavailable("answered \(answer.status)")
            default:
                return answer
            }
        }
    }
}
