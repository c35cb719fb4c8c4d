import Pipeline

/// `/_standin/…` on every listener: what tests use to steer and observe the stand-in.
///
/// * `GET /_standin/counters`, `POST /_standin/counters/reset`: requests served, by kind.
/// * `GET|POST /_standin/knobs`: latency, rate-limit exhaustion, secondary limits, 5xx, body
///   resets, token lifetime (see `apply`).
/// * `POST /_standin/events`: delivers a signed webhook (`WebhookSender`).
/// * `POST /_standin/oidc/token` (`{"claims", "header", "lifetimeSeconds", "unknownKey"}` →
///   `{"value": jwt}`), `POST /_standin/oidc/rotate` (`{"dropOld": bool}` → `{"kid"}`).
/// * `GET /_standin/urls`: the base URL of each listener.
struct ControlHandler: Middleware {
    let state: StandInState

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.path.hasPrefix("/_standin/") else { return try await next(request, context) }
        let body = try await request.body.collect(upTo: 1 << 20)
        let json = body.isEmpty ? JSONValue.object(JSONObject()) : try parse(body)
        switch (request.method, request.path) {
        case (.get, "/_standin/counters"):
            var counters = state.counters
            counters["api.peakConcurrency"] = state.peakInFlight
            return Response.json(.object(JSONObject(counters.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })))
        case (.post, "/_standin/counters/reset"):
            state.resetCounters()
            return Response.json(["reset": true])
        case (.get, "/_standin/knobs"):
            return Response.json(describe(state.knobs))
        case (.post, "/_standin/knobs"):
            try apply(json)
            return Response.json(describe(state.knobs))
        case (.post, "/_standin/events"):
            return Response.json(try await WebhookSender(state: state).deliver(json))
        case (.post, "/_standin/oidc/token"):
            let token = try OIDCIssuer(state: state).mint(claims: json["claims"]?.object ?? JSONObject(), header: json["header"]?.object ?? JSONObject(),
                                                           lifetime: json["lifetimeSeconds"]?.number ?? 300,
                                                           unknownKey: json["unknownKey"]?.bool ?? false)
            return Response.json(.object(JSONObject([("value", .string(token))])))
        case (.post, "/_standin/oidc/rotate"):
            let kid = try state.rotateOIDCKey(dropOld: json["dropOld"]?.bool ?? false)
            return Response.json(.object(JSONObject([("kid", .string(kid))])))
        case (.get, "/_standin/urls"):
            let urls = state.urls
            return Response.json(.object(JSONObject([("api", .string(urls.api)), ("codeload", .string(urls.codeload)),
                                                     ("objects", .string(urls.objects)), ("oidc", .string(urls.oidc))])))
        default:
            throw HTTPError(.notFound, "no such control endpoint")
        }
    }

    private func parse(_ body: [UInt8]) throws -> JSONValue {
        do {
            return try JSONParser.parse(body)
        } catch {
            throw HTTPError(.badRequest, "body is not JSON: \(error)")
        }
    }

    /// Knob changes; a key set to `null` turns its fault off:
    /// `{"latencyMs": 200}`, `{"rateLimit": {"exhausted": true, "resetInSeconds": 60}}`,
    /// `{"secondaryLimit": {"status": 429, "retryAfter": 30, "count": 1}}`,
    /// `{"serverErrors": {"status": 502, "count": 2, "on": "api"}}` (`on`: api, codeload, objects, all),
    /// `{"resetBodies": {"afterBytes": 1000, "count": 1, "on": "codeload"}}`, `{"tokenLifetimeSeconds": 5}`,
    /// `{"revokeTokens": true}` (every issued installation token becomes unknown: 401),
    /// `{"clockSkewSeconds": -90}` (GitHub's clock 90 s behind: the gateway's runs fast),
    /// `{"maxConcurrent": 4}` (more API requests at once get a secondary-limit refusal),
    /// `{"statelessTokens": true}` (installation tokens in GitHub's long stateless format).
    private func apply(_ json: JSONValue) throws {
        guard let object = json.object else { throw HTTPError(.badRequest, "expected a JSON object") }
        var problems: [String] = []
        state.updateKnobs { knobs in
            for (key, value) in object {
                switch key {
                case "latencyMs":
                    knobs.latencyMilliseconds = max(0, value.int ?? 0)
                case "rateLimit":
                    if value["exhausted"]?.bool == true {
                        knobs.exhaustedUntil = WallClock.now + knobs.clockSkew + (value["resetInSeconds"]?.number ?? 3600)
                    } else {
                        knobs.exhaustedUntil = nil
                    }
                case "secondaryLimit":
                    // `"retryAfter": null` sends the refusal without Retry-After, as GitHub may.
                    knobs.secondary = value == .null ? nil
                        : (value["status"]?.int ?? 403, value["retryAfter"] == .null ? nil : value["retryAfter"]?.int ?? 60,
                           value["count"]?.int ?? 1)
                case "serverErrors":
                    knobs.serverErrors = value == .null ? nil
                        : (value["status"]?.int ?? 502, value["count"]?.int ?? 1, value["on"]?.string ?? "api")
                case "resetBodies":
                    knobs.resetBodies = value == .null ? nil
                        : (value["afterBytes"]?.int ?? 0, value["count"]?.int ?? 1, value["on"]?.string ?? "all")
                case "tokenLifetimeSeconds":
                    knobs.tokenLifetime = max(1, value.number ?? 3600)
                case "revokeTokens":
                    break
                case "clockSkewSeconds":
                    knobs.clockSkew = value.number ?? 0
                case "maxConcurrent":
                    knobs.maxConcurrent = value == .null ? 100 : max(1, value.int ?? 100)
                case "statelessTokens":
                    knobs.statelessTokens = value.bool ?? false
                default:
                    problems.append(key)
                }
            }
        }
        if !problems.isEmpty { throw HTTPError(.badRequest, "unknown knob(s): \(problems.joined(separator: ", "))") }
        if object["revokeTokens"]?.bool == true { state.revokeTokens() }
    }

    private func describe(_ knobs: Knobs) -> JSONValue {
        var object = JSONObject([("latencyMs", .number(Double(knobs.latencyMilliseconds))), ("tokenLifetimeSeconds", .number(knobs.tokenLifetime))])
        object["rateLimitExhaustedUntil"] = knobs.exhaustedUntil.map { .number($0.rounded(.down)) } ?? .null
        object["clockSkewSeconds"] = .number(knobs.clockSkew)
        object["maxConcurrent"] = .number(Double(knobs.maxConcurrent))
        object["statelessTokens"] = .bool(knobs.statelessTokens)
        object["secondaryLimit"] = knobs.secondary.map { .object(JSONObject([("status", .number(Double($0.status))),
                                                                             ("retryAfter", $0.retryAfter.map { .number(Double($0)) } ?? .null),
                                                                             ("count", .number(Double($0.count)))])) } ?? .null
        object["serverErrors"] = knobs.serverErrors.map { .object(JSONObject([("status", .number(Double($0.status))),
                                                                              ("count", .number(Double($0.count))), ("on", .string($0.on))])) } ?? .null
        object["resetBodies"] = knobs.resetBodies.map { .object(JSONObject([("afterBytes", .number(Double($0.afterBytes))),
                                                                           ("count", .number(Double($0.count))), ("on", .string($0.on))])) } ?? .null
        return .object(object)
    }
}
