import Testing
@testable import Middlewares
@testable import Pipeline

@Suite("health: liveness and readiness")
struct HealthTests {
    let health = Health(livenessPath: "/healthz", readinessPath: "/readyz")

    func context(_ phase: Readiness.Phase) -> Context {
        Context(requestID: "t", readiness: Readiness(phase))
    }

    @Test("/readyz follows the server: 503 starting, 200 ready, 503 draining; /healthz is 200 throughout")
    func phases() async throws {
        for (phase, status, body) in [(Readiness.Phase.starting, 503, "starting"), (.ready, 200, "ready"), (.draining, 503, "draining")] {
            let ready = try await serve(health, "/readyz", context: context(phase))
            #expect(ready.status == status)
            #expect(ready.body == "{\"status\":\"\(body)\"}\n")
            #expect(ready.header("Content-Type") == "application/json")
            #expect(ready.header("Cache-Control") == "no-store")
            let alive = try await serve(health, "/healthz", context: context(phase))
            #expect(alive.status == 200)
            #expect(alive.body == "{\"status\":\"alive\"}\n")
        }
    }

    @Test("readiness only moves forward: a draining server is never ready again")
    func forwardOnly() {
        let readiness = Readiness()
        readiness.advance(to: .draining)
        readiness.advance(to: .ready)
        #expect(readiness.phase == .draining)
    }

    @Test("other paths are 404, other methods 405")
    func otherRequests() async throws {
        #expect(try await serve(health, "/readyz/x").status == 404)
        #expect(try await serve(health, "/healthzz").status == 404)
        let post = try await serve(health, "/readyz", method: .post)
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
    }

    @Test("paths are configurable; drainDelay defaults to 5s with a health stack, 0 without, and may be 0")
    func config() throws {
        let site = #"{"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}], "stacks": {"#
        let withHealth = site + #""h": {"chain": [{"type": "health", "healthPath": "/live", "readyPath": "/ready"}]}}}"#
        let (loaded, diagnostics) = loadPipeline(withHealth)
        #expect(diagnostics.errors.isEmpty)
        #expect(try #require(loaded).drainDelay == .seconds(5))
        let without = site + #""r": {"chain": [{"type": "respond"}]}}}"#
        #expect(try #require(loadPipeline(without).0).drainDelay == .zero)
        let zero = site + #""h": {"chain": [{"type": "health"}]}}, "drainDelay": 0}"#
        #expect(try #require(loadPipeline(zero).0).drainDelay == .zero)
        let bad = site + #""h": {"chain": [{"type": "health", "readyPath": "ready"}]}}, "drainDelay": "soon"}"#
        #expect(loadPipeline(bad).1.errors.map(\.description) == [
            #"/stacks/h/chain/0/readyPath: must be a path starting with "/""#,
            #"/drainDelay: expected a duration such as 30, "250ms", "30s", "5m" or "1h""#,
        ])
    }
}
