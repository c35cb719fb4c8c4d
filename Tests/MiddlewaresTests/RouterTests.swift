import Testing
@testable import Middlewares
@testable import Pipeline

/// `echo-params`: answers with the route parameters as `name=value` lines, for the router tests.
struct EchoParameters: Middleware {
    static let type = MiddlewareType(name: "echo-params", summary: "test", phase: .behaviour, isTerminal: true,
                                     options: [OptionSpec("label", "string", "")]) { options, _ in
        EchoParameters(label: options.string("label") ?? "")
    }

    let label: String

    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        let lines = context.parameters.pairs.map { "\($0.0)=\($0.1)" }
        return .text(([label] + lines).joined(separator: "\n"))
    }
}

/// Builds a router from the `routes` JSON through the real loader.
func router(_ routes: String) throws -> Chain {
    let json = #"{"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}], "stacks": {"s": {"chain": [{"type": "router", "routes": "#
        + routes + "}]}}}"
    let (pipeline, diagnostics) = loadPipeline(json, extra: [EchoParameters.type])
    #expect(diagnostics.errors.isEmpty, "\(diagnostics.errors)")
    return try #require(pipeline?.stacks.first?.chain)
}

/// Runs `chain` for `target`.
func route(_ chain: Chain, _ target: String, method: HTTPMethod = .get) async throws -> Served {
    let request = Request(method: method, target: target, headers: ["Host": "localhost"])
    let response = await chain.handle(request, context: Context(requestID: "t"))
    return Served(response: response, body: String(decoding: try await response.body.collect(upTo: 1 << 16), as: UTF8.self))
}

@Suite("router: patterns, precedence, 405")
struct RouterTests {
    static let routes = #"""
        [{"path": "/v1/modules/:namespace/:name/:provider/versions", "methods": ["GET"], "chain": [{"type": "echo-params", "label": "versions"}]},
         {"path": "/v1/modules/:namespace/:name/:provider/:version/download", "chain": [{"type": "echo-params", "label": "download"}]},
         {"path": "/v1/modules/search", "chain": [{"type": "echo-params", "label": "search"}]},
         {"path": "/v1/modules/:namespace", "chain": [{"type": "echo-params", "label": "namespace"}]},
         {"path": "/files/*path", "methods": ["GET", "PUT"], "chain": [{"type": "echo-params", "label": "files"}]},
         {"path": "/files/readme", "methods": ["GET"], "chain": [{"type": "echo-params", "label": "readme"}]},
         {"path": "/upload", "methods": ["POST", "PUT"], "chain": [{"type": "echo-params", "label": "upload"}]}]
        """#

    @Test("parameters are captured and percent-decoded")
    func parameters() async throws {
        let chain = try router(Self.routes)
        #expect(try await route(chain, "/v1/modules/acme/vpc/aws/versions").body == "versions\nnamespace=acme\nname=vpc\nprovider=aws")
        #expect(try await route(chain, "/v1/modules/acme/vpc/aws/1.2.0/download").body
            == "download\nnamespace=acme\nname=vpc\nprovider=aws\nversion=1.2.0")
        #expect(try await route(chain, "/v1/modules/a%20b").body == "namespace\nnamespace=a b")
    }

    @Test("* takes the rest of the path")
    func rest() async throws {
        let chain = try router(Self.routes)
        #expect(try await route(chain, "/files/a/b/c.txt").body == "files\npath=a/b/c.txt")
        #expect(try await route(chain, "/files/a%2Fb").body == "files\npath=a/b")
    }

    @Test("literal segments win over parameters, parameters over *")
    func precedence() async throws {
        let chain = try router(Self.routes)
        #expect(try await route(chain, "/v1/modules/search").body == "search")
        #expect(try await route(chain, "/files/readme").body == "readme")
        // A literal route that does not allow the method falls through to the wider one.
        #expect(try await route(chain, "/files/readme", method: .put).body == "files\npath=readme")
    }

    @Test("405 with Allow when the path matches but the method does not; HEAD goes where GET does")
    func methods() async throws {
        let chain = try router(Self.routes)
        let refused = try await route(chain, "/upload", method: .get)
        #expect(refused.status == 405)
        #expect(refused.response.headers["Allow"] == "POST, PUT")
        #expect(try await route(chain, "/upload", method: .post).body == "upload")
        #expect(try await route(chain, "/v1/modules/a/b/c/versions", method: .head).status == 200)
        #expect(try await route(chain, "/v1/modules/a/b/c/versions", method: .delete).status == 405)
    }

    @Test("no matching route is 404")
    func notFound() async throws {
        let chain = try router(Self.routes)
        #expect(try await route(chain, "/v2/anything").status == 404)
        #expect(try await route(chain, "/v1/modules/a/b").status == 404)
    }

    @Test("two routes that match the same paths equally are a config error at the second")
    func clash() {
        let json = #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"s": {"chain": [{"type": "router", "routes": [
                {"path": "/v1/:a/x", "chain": [{"type": "respond"}]},
                {"path": "/v1/:b/x", "chain": [{"type": "respond"}]},
                {"path": "/v1/:c/y", "methods": ["GET"], "chain": [{"type": "respond"}]},
                {"path": "/v1/:d/y", "methods": ["POST"], "chain": [{"type": "respond"}]},
                {"path": "/v1/*", "chain": [{"type": "respond"}, {"type": "log"}]},
                {"path": "v1", "chain": [{"type": "respond"}]}]}]}}}
            """#
        let found = loadPipeline(json).1.errors.map(\.description)
        #expect(found.contains(#"/stacks/s/chain/0/routes/1/path: "/v1/:b/x" clashes with "/v1/:a/x" at /stacks/s/chain/0/routes/0"#))
        // Different methods on the same pattern do not clash.
        #expect(!found.contains { $0.hasPrefix("/stacks/s/chain/0/routes/3") })
        // Each route's chain gets the same checks as a stack's.
        #expect(found.contains(#"/stacks/s/chain/0/routes/4/chain/0: "respond" ends a chain, so it must be last"#))
        #expect(found.contains("/stacks/s/chain/0/routes/5/path: a route path must start with /"))
        #expect(found.count == 3)
    }

    @Test("route patterns: parsing rules")
    func patterns() throws {
        #expect(throws: ConfigError.self) { try RoutePattern("/a/*/b/*") }
        #expect(throws: ConfigError.self) { try RoutePattern("/a/:") }
        #expect(try RoutePattern("/a/:x").match("/a/1/2") == nil)
        #expect(try RoutePattern("/a").match("/a/") != nil)
        #expect(try RoutePattern("/a/*").match("/a")?.first?.1 == "")
    }
}
