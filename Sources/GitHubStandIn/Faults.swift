import Pipeline

/// The fault knobs for one listener (`api`, `codeload`, `objects`): added latency, injected 5xx,
/// and bodies cut short by a connection reset after some bytes.
struct Faults: Middleware {
    let state: StandInState
    let listener: String

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let knobs = state.knobs
        if knobs.latencyMilliseconds > 0 { try await Task.sleep(for: .milliseconds(knobs.latencyMilliseconds)) }
        if let status = state.takeServerError(listener) {
            state.count("\(listener).serverErrors")
            return GitHubJSON.error(status, status == 502 ? "Server Error" : "Service Unavailable")
        }
        var response = try await next(request, context)
        guard response.status.allowsContent, response.body.length != 0, let cut = state.takeBodyReset(listener) else { return response }
        state.count("\(listener).resetBodies")
        let body = response.body
        response.body = ResponseBody(length: body.length) { writer in
            try await body.write(to: CuttingWriter(base: writer, remaining: cut))
            throw BodyReset()
        }
        return response
    }

    /// The reset: the codec aborts a response whose body throws, so the peer sees a short body.
    struct BodyReset: Error {}

    /// Passes on the first `remaining` bytes, then throws.
    final class CuttingWriter: ResponseBodyWriter, @unchecked Sendable {
        // Written by the one task that writes the body.
        let base: any ResponseBodyWriter
        var remaining: Int

        init(base: any ResponseBodyWriter, remaining: Int) {
            self.base = base
            self.remaining = remaining
        }

        func write(_ chunk: [UInt8]) async throws {
            if chunk.count <= remaining {
                try await base.write(chunk)
                remaining -= chunk.count
                return
            }
            if remaining > 0 { try await base.write(Array(chunk.prefix(remaining))) }
            remaining = 0
            throw BodyReset()
        }
    }
}
