import Pipeline

/// `metrics`: answers with the process's metrics in the Prometheus text format: requests,
/// response bytes, aborted responses and time, by stack, protocol (HTTP/1.1, HTTP/2) and status
/// class, plus every cache's counters. Put it in a stack of its own (and behind auth or on an
/// internal listener: it shows stack names and traffic).
public struct MetricsEndpoint: Middleware {
    public static let type = MiddlewareType(
        name: "metrics", summary: "Serves request and cache counters as Prometheus text.", phase: .behaviour, isTerminal: true,
        options: [],
        build: { _, _ in MetricsEndpoint() })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        return Response(headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"],
                        body: ResponseBody(string: MetricsRegistry.shared.render()))
    }
}
