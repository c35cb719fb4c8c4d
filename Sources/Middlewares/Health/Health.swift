import Pipeline

/// `health`: the liveness and readiness paths a load balancer, systemd or Kubernetes probes.
///
/// `GET /healthz` answers 200 while the process serves at all (it depends on no upstream).
/// `GET /readyz` answers 200 once the pipeline is built and the listeners accept, and 503 from
/// the moment the gateway is asked to stop: it goes on serving for `drainDelay` so a balancer
/// takes it out of rotation before its listeners close. A reload in progress reads ready (the
/// old pipeline serves until the new one replaces it). Any other path under the stack is 404.
///
/// ```json
/// "health": {"match": {"pathPrefix": ["/healthz", "/readyz"]}, "chain": [{"type": "health"}]}
/// ```
public struct Health: Middleware {
    let livenessPath: String
    let readinessPath: String

    public static let type = MiddlewareType(
        name: "health", summary: "Answers liveness (/healthz) and readiness (/readyz, 503 while draining) probes.",
        phase: .behaviour, isTerminal: true,
        options: [
            OptionSpec("healthPath", "string", "the liveness path: 200 while the process serves", default: "/healthz"),
            OptionSpec("readyPath", "string", "the readiness path: 200 when ready, 503 while starting or draining", default: "/readyz"),
        ],
        build: { options, context in
            let liveness = options.string("healthPath") ?? "/healthz"
            let readiness = options.string("readyPath") ?? "/readyz"
            for (key, path) in [("healthPath", liveness), ("readyPath", readiness)] where !path.hasPrefix("/") {
                options.error(key, "must be a path starting with \"/\"")
            }
            if liveness == readiness { options.error("readyPath", "must differ from healthPath") }
            context.shared[Readiness.endpointKey] = true
            return Health(livenessPath: liveness, readinessPath: readiness)
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let path = request.path
        guard path == livenessPath || path == readinessPath else {
            throw HTTPError(.notFound, "not a health path")
        }
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        if path == livenessPath { return Self.answer(200, "alive") }
        switch context.readiness.phase {
        case .ready: return Self.answer(200, "ready")
        case .starting: return Self.answer(503, "starting")
        case .draining: return Self.answer(503, "draining")
        }
    }

    private static func answer(_ status: Int, _ state: String) -> Response {
        Response(status: HTTPStatus(status),
                 headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
                 body: ResponseBody(string: "{\"status\":\"\(state)\"}\n"))
    }
}
