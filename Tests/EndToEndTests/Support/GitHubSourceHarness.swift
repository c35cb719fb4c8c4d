import Foundation
import Middlewares
import Pipeline
import Testing

/// A `github` source loaded from pipeline.json the way the gateway loads it, pointed at a running
/// stand-in, plus an in-process server so real HTTP clients can reach it: `/hooks` is the
/// `github.webhook` middleware, and `SourceProbe` routes call the source and stream downloads
/// through the real `upstream` middleware.
final class GitHubSourceHarness: @unchecked Sendable {
    let source: GitHubSource
    let server: Server
    let port: Int
    let secret = "hook-" + SecureRandom.hex(8)
    /// What the loaded pipeline would show in /metrics (its sources' series).
    let metricsSources: [any MetricsSource]

    /// `options` are extra members of the source object, e.g. `"freshFor": "2s"`. `auth` chooses the
    /// App (default), the stand-in's user token or no credentials.
    init(standIn: StandInProcess, options: String = "", auth: Auth = .app) throws {
        let fixtures = standIn.fixtures
        let credentials = switch auth {
        case .app: "\"app\": {\"id\": \"\(fixtures.appID)\", \"installation\": \"\(fixtures.installation)\", \"privateKeyFile\": \"\(fixtures.appKeyPath)\"}"
        case .appClientID:
            "\"app\": {\"id\": \"\(fixtures.clientID)\", \"installation\": \"\(fixtures.installation)\", \"privateKeyFile\": \"\(fixtures.appKeyPath)\"}"
        case .token: "\"token\": \"\(fixtures.userToken)\""
        case .none: "\"freshFor\": \"60s\""
        }
        let config = """
            {"version": 1, "listeners": [{"name": "unused", "listen": "127.0.0.1:0"}],
             "sources": {"org": {"type": "github", "owner": "\(fixtures.owner)", "api": "\(standIn.api)", \(credentials)\(options.isEmpty ? "" : ", " + options)}},
             "stacks": {"hooks": {"match": {"pathPrefix": ["/hooks"]}, "chain": [{"type": "github.webhook", "source": "org", "secret": "\(secret)"}]},
                        "fetch": {"chain": [{"type": "upstream"}]}}}
            """
        let (loaded, diagnostics) = PipelineLoader.load(Array(config.utf8), environment: .process(baseDirectory: fixtures.root),
                                                        registry: Builtins.registry)
        guard let loaded, let hooks = loaded.stacks.first(where: { $0.name == "hooks" }),
              let webhook = hooks.chain.middlewares.first as? GitHubWebhook, let source = webhook.sources.first,
              let fetch = loaded.stacks.first(where: { $0.name == "fetch" }) else {
            throw HarnessError(description: "pipeline did not load: \(diagnostics.errors)")
        }
        self.source = source
        metricsSources = loaded.metricsSources
        let probe = CompiledStack(name: "probe", matches: [], chain: Chain([SourceProbe(source: source)] + fetch.chain.middlewares))
        let listener = ListenerConfig(name: "test", addresses: SocketAddress.listenAddresses("127.0.0.1:0")!)
        server = try Server(pipeline: LoadedPipeline(listeners: [listener], stacks: [hooks, probe], workers: 1))
        try server.start()
        port = Int(server.boundPorts["test"]?.first ?? 0)
    }

    /// The App by its id or by its Client ID, the stand-in's user token, or nothing.
    enum Auth { case app, appClientID, token, none }

    deinit {
        let server = self.server
        Task { await server.drain(timeout: .seconds(1)) }
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The pipeline's source series as /metrics would render them.
    var metricsText: String { metricsSources.map { $0.renderMetrics() }.joined() }

    /// GETs a probe path; status, headers and body.
    func get(_ path: String) async throws -> (status: Int, headers: HTTPFields, body: [UInt8]) {
        let response = try await HTTPClient.shared.get(url(path))
        return (response.status.code, response.headers, try await response.body.collect(upTo: 64 << 20))
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
}

/// Test-only routes that call the source, as a behaviour would:
/// `/tags/<repo>`, `/releases/<repo>`, `/repos`, `/file/<repo>/<path>?ref=`,
/// `/asset/<repo>/<id>` and `/tarball/<repo>/<ref>` (the last two go on to `upstream`).
struct SourceProbe: Middleware {
    let source: GitHubSource

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let parts = request.path.split(separator: "/").map(String.init)
        switch parts.first {
        case "tags" where parts.count == 2:
            return Response.json(.array(try await source.tags(repo: parts[1]).map { .string($0.name) }))
        case "releases" where parts.count == 2:
            return Response.json(.array(try await source.releases(repo: parts[1]).map { .string($0.tag) }))
        case "repos":
            return Response.json(.array(try await source.repositories().map { .string($0.name) }))
        case "file" where parts.count >= 3:
            guard let bytes = try await source.file(repo: parts[1], path: parts.dropFirst(2).joined(separator: "/"), ref: request.query("ref")) else {
                throw HTTPError(.notFound, "no such file")
            }
            return Response(body: ResponseBody(bytes: bytes))
        case "asset" where parts.count == 3:
            guard let id = Int(parts[2]) else { throw HTTPError(.badRequest, "bad id") }
            return try await next(try await source.assetRequest(repo: parts[1], assetID: id), context)
        case "tarball" where parts.count >= 3:
            return try await next(try await source.tarballRequest(repo: parts[1], ref: parts.dropFirst(2).joined(separator: "/")), context)
        default:
            throw HTTPError(.notFound, "no probe route")
        }
    }
}
