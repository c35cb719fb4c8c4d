import Foundation
import Middlewares
import Pipeline
import Synchronization
import Testing

/// Values with background work are stopped with the pipeline that owns them (issue 11).
@Suite("lifecycles: replaced and abandoned values are stopped", .serialized)
struct StoppableTests {
    static func config(_ standIn: StandInProcess, extra: String = "") -> String {
        let fixtures = standIn.fixtures
        return """
            {"version": 1, "drainTimeout": "1s", "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)",
                                 "app": {"id": "\(fixtures.appID)", "installation": "\(fixtures.installation)",
                                         "privateKeyFile": "\(fixtures.appKeyPath)"}}},
             "stacks": {"tf": {"chain": [{"type": "terraform.registry", "modules": "org", "providers": "org"},
                                         {"type": "cache", "memory": "1MiB"}, {"type": "upstream"}]}\(extra)}}
            """
    }

    @Test("a stopped github source makes no more calls to GitHub: the stand-in counts none")
    func stoppedSourceIsSilent() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("terraform-aws-vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let (loaded, diagnostics) = PipelineLoader.load(Array(Self.config(standIn).utf8), environment: .process(baseDirectory: fixtures.root),
                                                        registry: Builtins.registry)
        let pipeline = try #require(loaded, "\(diagnostics.errors)")
        let source = try #require(pipeline.stoppables.compactMap { $0 as? GitHubSource }.first)
        // The source, the registry and the cache all have background work and belong to the load.
        #expect(pipeline.stoppables.contains { $0 is TerraformRegistry })
        #expect(pipeline.stoppables.contains { $0 is Cache })
        #expect(try await source.tags(repo: "terraform-aws-vpc").map(\.name) == ["v1.0.0"])
        let before = try await standIn.counter("api")
        #expect(before > 0)

        await pipeline.stop()
        #expect(source.isStopped)
        source.invalidateAll()
        await #expect(throws: CancellationError.self) { try await source.tags(repo: "terraform-aws-vpc") }
        await #expect(throws: CancellationError.self) { try await source.repositories() }
        #expect(try await standIn.counter("api") == before, "a stopped source called GitHub")
    }

    @Test("a load that fails half-way stops the values it built before the failure")
    func failedLoadStops() async throws {
        let fixtures = GitHubFixtures()
        let standIn = try StandInProcess(fixtures: fixtures)
        // The source and the stack build; the second stack's unknown type fails the load.
        let config = Self.config(standIn, extra: #", "broken": {"chain": [{"type": "no.such.type"}]}"#)
        let probe = StopProbe()
        var registry = Builtins.registry
        registry.register(StopProbe.type(probe))
        let withProbe = config.replacingOccurrences(of: #""chain": [{"type": "terraform.registry""#,
                                                    with: #""chain": [{"type": "stop.probe"}, {"type": "terraform.registry""#)
        let (loaded, diagnostics) = PipelineLoader.load(Array(withProbe.utf8), environment: .process(baseDirectory: fixtures.root),
                                                        registry: registry)
        #expect(loaded == nil)
        #expect(diagnostics.errors.contains { $0.pointer.description == "/stacks/broken/chain/0/type" })
        // Stopped in the background (a load is synchronous): wait for it, as a reload's log would.
        for _ in 0..<200 where probe.stops.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(probe.stops.load(ordering: .relaxed) == 1)
    }

    @Test("SIGHUP: the replaced pipeline's source, registry and cache are stopped after the drain timeout")
    func reloadStopsReplaced() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("terraform-aws-vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let directory = TemporaryDirectory()
        let gateway = try GatewayProcess(config: Self.config(standIn), directory: directory)
        let port = gateway.port("web")
        let versions = Tool.curl(["-f", gateway.url("web", "/v1/modules/\(fixtures.owner)/vpc/aws/versions")])
        #expect(versions.output.contains("1.0.0"), "\(versions.output)")
        directory.write("pipeline.json", Self.config(standIn).replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)"))
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        // github source + terraform.registry + cache
        #expect(gateway.waitForLog("\"msg\":\"replaced pipeline stopped\",\"values\":\"3\""), "\(gateway.stderr)")
        // The new pipeline has its own source: it still answers.
        #expect(Tool.curl(["-f", gateway.url("web", "/v1/modules/\(fixtures.owner)/vpc/aws/versions")]).output.contains("1.0.0"))
    }
}

/// A middleware type whose values count their stops.
final class StopProbe: Sendable {
    let stops = Atomic<Int>(0)

    struct Value: Middleware, Stoppable {
        let probe: StopProbe
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response { try await next(request, context) }
        func stop() async { probe.stops.add(1, ordering: .relaxed) }
    }

    static func type(_ probe: StopProbe) -> MiddlewareType {
        MiddlewareType(name: "stop.probe", summary: "counts stops", phase: .observe, options: []) { _, _ in Value(probe: probe) }
    }
}
