import Pipeline

/// What api.github.com checks before a request reaches a route, and what it adds to every answer:
/// a `User-Agent` is required (403 without one), `X-GitHub-Api-Version` must name a supported
/// version (400 otherwise), more concurrent requests than the `maxConcurrent` knob get a
/// secondary-limit refusal, and `Date` is GitHub's clock (the `clockSkewSeconds` knob moves it).
/// It comes before the fault knobs, so an added latency counts as time in flight.
struct APIGate: Middleware {
    let state: StandInState
    /// The REST API versions GitHub serves ("API Versions").
    static let supportedVersions = ["2022-11-28", "2026-03-10"]

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        var response = try await answer(request, context: context, next: next)
        response.headers["Date"] = HTTPDate.format(Int64(state.now.rounded(.down)))
        return response
    }

    private func answer(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard let agent = request.headers["User-Agent"], !agent.trimmingASCIIWhitespace().isEmpty else {
            state.count("api", "api.noUserAgent")
            return Response(status: .forbidden, headers: ["Content-Type": "text/plain; charset=utf-8"], body: ResponseBody(string:
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header "
                + "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). "
                + "Check https://developer.github.com for other possible causes.\n"))
        }
        if let version = request.headers["X-GitHub-Api-Version"], !Self.supportedVersions.contains(version) {
            state.count("api", "api.unsupportedVersion")
            let supported = Self.supportedVersions.map { "\"\($0)\"" }.joined(separator: ", ")
            return GitHubJSON.error(400, "The version you specified in the \"X-GitHub-API-Version\" request header, \"\(version)\", "
                                    + "is not a supported version. The following versions are currently supported: \(supported) (most recent).")
        }
        guard state.enterAPI() else {
            state.count("api", "api.secondary", "api.concurrencyLimited")
            return GitHubJSON.secondaryLimit(status: 403, retryAfter: nil)
        }
        defer { state.leaveAPI() }
        return try await next(request, context)
    }
}
