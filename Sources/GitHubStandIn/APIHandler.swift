import Pipeline

/// The REST API listener: authentication (installation tokens, configured tokens, App JWTs on
/// `/app`), primary and secondary rate limits with GitHub's headers, and the routes gateway uses.
/// Every call is counted as `api`, `api.<kind>` and `api.<kind>.<status>`.
struct APIHandler: Middleware {
    let state: StandInState
    /// `""` like api.github.com, or `/api/v3` like Enterprise Server.
    let prefix: String

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.path.hasPrefix(prefix + "/") || request.path == prefix else { return notFound("other") }
        let path = String(request.path.dropFirst(prefix.count))
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { PercentEncoding.decode($0) ?? String($0) }
        let now = state.now
        state.count("api")
        if request.method == .post, segments.count == 4, segments[0] == "app", segments[1] == "installations", segments[3] == "access_tokens" {
            let response = AppTokens(state: state).mint(request, installation: segments[2], now: now)
            state.count("api.tokens", "api.tokens.\(response.status.code)")
            return withRequestID(response)
        }
        guard let caller = Caller.authenticate(request, context: context, state: state, now: now) else {
            state.count("api.unauthorized")
            return withRequestID(GitHubJSON.error(401, "Bad credentials"))
        }
        let limit = caller.key.hasPrefix("ip:") ? state.config.anonymousRateLimit : state.config.rateLimit
        if segments == ["rate_limit"] {
            // Asking for the rate limit does not count against it.
            let status = state.rateLimit(for: caller.key, limit: limit, use: false, now: now)
            let core = JSONValue.object(JSONObject([("limit", .number(Double(status.limit))), ("remaining", .number(Double(status.remaining))),
                                                    ("reset", .number(Double(status.reset))), ("used", .number(Double(status.used))),
                                                    ("resource", "core")]))
            return finish(Response.json(.object(JSONObject([("resources", .object(JSONObject([("core", core)]))), ("rate", core)]))),
                          kind: "rate_limit", caller: caller, limit: limit, use: false, now: now)
        }
        if let secondary = state.takeSecondaryLimit() {
            state.count("api.secondaryLimited")
            return finish(GitHubJSON.secondaryLimit(status: secondary.status, retryAfter: secondary.retryAfter), kind: "secondary",
                          caller: caller, limit: limit, use: false, now: now)
        }
        if state.rateLimit(for: caller.key, limit: limit, use: false, now: now).remaining == 0 {
            state.count("api.rateLimited")
            let response = GitHubJSON.error(403, caller.limitSubject + " (But here's the good news: Authenticated requests get a higher rate limit. "
                                            + "Check out the documentation for more details.)")
            return finish(response, kind: "limited", caller: caller, limit: limit, use: false, now: now)
        }
        guard request.method == .get || request.method == .head else {
            return finish(GitHubJSON.error(404, "Not Found"), kind: "other", caller: caller, limit: limit, use: true, now: now)
        }
        let routes = APIRoutes(state: state, caller: caller, request: request, base: state.urls.api + prefix)
        let (kind, response) = await routes.respond(segments)
        if response.status.code == 304 { state.count("api.notModified") }
        if response.status.code == 404 { state.count("api.notFound") }
        // A 304 to an authorized request does not count against the limit ("Rate limits for the REST API").
        let use = !(response.status.code == 304 && request.headers["Authorization"] != nil)
        return finish(response, kind: kind, caller: caller, limit: limit, use: use, now: now)
    }

    private func finish(_ response: Response, kind: String, caller: Caller, limit: Int, use: Bool, now: Double) -> Response {
        var response = withRequestID(response)
        let status = state.rateLimit(for: caller.key, limit: limit, use: use, now: now)
        response.headers["X-RateLimit-Limit"] = String(status.limit)
        response.headers["X-RateLimit-Remaining"] = String(status.remaining)
        response.headers["X-RateLimit-Reset"] = String(status.reset)
        response.headers["X-RateLimit-Used"] = String(status.used)
        response.headers["X-RateLimit-Resource"] = "core"
        response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
        state.count("api.\(kind)", "api.\(kind).\(response.status.code)")
        return response
    }

    private func withRequestID(_ response: Response) -> Response {
        var response = response
        response.headers["X-GitHub-Request-Id"] = SecureRandom.hex(8).uppercased()
        response.headers["Server"] = "github-standin"
        return response
    }

    private func notFound(_ kind: String) -> Response {
        state.count("api", "api.\(kind)", "api.\(kind).404")
        return withRequestID(GitHubJSON.error(404, "Not Found"))
    }
}
