import Testing
@testable import Pipeline

/// A small registry of stand-in types, one per phase, so the loader's rules are tested on their own.
enum TestTypes {
    struct Fixed: Middleware {
        let text: String
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
            Response(status: .ok, body: ResponseBody(string: text))
        }
    }

    struct Pass: Middleware {
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
            try await next(request, context)
        }
    }

    struct Branch: Middleware {
        let chain: Chain
        func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
            try await chain.respond(request, context)
        }
    }

    static let echo = MiddlewareType(
        name: "echo", summary: "answers with text", phase: .behaviour, isTerminal: true,
        options: [OptionSpec("text", "string", "the body", required: true), OptionSpec("delay", "duration", ""),
                  OptionSpec("limit", "size", "")],
        build: { options, _ in
            let text = options.string("text", required: true) ?? ""
            _ = options.duration("delay")
            _ = options.size("limit", default: 0)
            return Fixed(text: text)
        })
    static let guardType = MiddlewareType(
        name: "guard", summary: "auth stand-in", phase: .auth, options: [OptionSpec("users", "[string]", ""), OptionSpec("token", "secret", "")],
        build: { options, _ in
            _ = options.strings("users")
            _ = options.secret("token")
            return Pass()
        })
    static let memo = MiddlewareType(
        name: "memo", summary: "cache stand-in", phase: .cache, options: [OptionSpec("memory", "size", "")],
        build: { options, _ in
            _ = options.size("memory", default: 1 << 20)
            return Pass()
        })
    static let note = MiddlewareType(name: "note", summary: "log stand-in", phase: .observe, options: [], build: { _, _ in Pass() })
    static let branch = MiddlewareType(
        name: "branch", summary: "nested chain", phase: .behaviour, isTerminal: true,
        options: [OptionSpec("chain", "[middleware]", "", required: true)],
        build: { options, context in
            guard let chain = context.chain(options.raw("chain"), at: options.pointer.appending("chain")) else {
                throw ConfigError("nested chain failed")
            }
            return Branch(chain: chain)
        })

    static let registry = TypeRegistry(middlewares: [echo, guardType, memo, note, branch], sources: [])
}

/// Loads `json` with the stand-in registry; `variables` are the environment.
func load(_ json: String, variables: [String: String] = [:], baseDirectory: String = "/tmp") -> (LoadedPipeline?, Diagnostics) {
    let environment = ConfigEnvironment(variables: variables, baseDirectory: baseDirectory)
    let (pipeline, diagnostics) = PipelineLoader.load(Array(json.utf8), environment: environment, registry: TestTypes.registry)
    return (pipeline, diagnostics)
}

/// `pointer: message` for every error.
func errors(_ json: String, variables: [String: String] = [:]) -> [String] {
    load(json, variables: variables).1.errors.map(\.description)
}

/// A valid config with `stacks` (and `extra` top-level members) spliced in.
func config(stacks: String = #""s": {"chain": [{"type": "echo", "text": "hi"}]}"#, extra: String = "") -> String {
    #"{"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}], "stacks": {"# + stacks + "}" + extra + "}"
}

@Suite("pipeline.json errors, each with its JSON pointer")
struct ConfigTests {
    @Test("a valid config loads: listeners, stacks in run order, defaults")
    func valid() throws {
        let (pipeline, diagnostics) = load(config(stacks: #"""
            "a": {"match": {"pathPrefix": "/a/"}, "chain": [{"type": "echo", "text": "a"}], "maxBodyBytes": "2MiB", "timeout": "90s"},
            "b": {"chain": [{"type": "note"}, {"type": "guard"}, {"type": "echo", "text": "b"}]}
            """#, extra: #", "run": ["b", "a"], "drainTimeout": "5s", "workers": 2"#))
        #expect(diagnostics.all.isEmpty)
        let loaded = try #require(pipeline)
        #expect(loaded.stacks.map(\.name) == ["b", "a"])
        #expect(loaded.stacks[1].maxBodyBytes == 2 << 20)
        #expect(loaded.stacks[1].requestTimeout == .seconds(90))
        #expect(loaded.stacks[0].maxBodyBytes == 1 << 20)
        #expect(loaded.drainTimeout == .seconds(5))
        #expect(loaded.workers == 2)
        #expect(loaded.listeners.map(\.name) == ["web"])
        #expect(loaded.listeners[0].limits == HTTPLimits())
    }

    @Test("listener limits and timeouts are read")
    func listenerOptions() throws {
        let json = #"""
            {"version": 1, "listeners": [{"name": "web", "listen": ["127.0.0.1:0"], "trustForwardedFrom": ["10.0.0.0/8"],
              "limits": {"maxHeaderBytes": "16KiB", "maxHeaderCount": 50, "maxURIBytes": 2048},
              "timeouts": {"requestHead": "2s", "bodyIdle": 3, "keepAlive": "500ms", "sendIdle": "1m"}}],
             "stacks": {"s": {"chain": [{"type": "echo", "text": "x"}]}}}
            """#
        let (pipeline, diagnostics) = load(json)
        #expect(diagnostics.errors.isEmpty)
        let listener = try #require(pipeline?.listeners.first)
        #expect(listener.limits.maxHeaderBytes == 16 * 1024)
        #expect(listener.limits.maxHeaderCount == 50)
        #expect(listener.limits.maxURIBytes == 2048)
        #expect(listener.timeouts.requestHead == .seconds(2))
        #expect(listener.timeouts.bodyIdle == .seconds(3))
        #expect(listener.timeouts.keepAlive == .milliseconds(500))
        #expect(listener.timeouts.sendIdle == .seconds(60))
        #expect(listener.trusts(SocketAddress(ip: "10.1.2.3", port: 0)!))
        #expect(!listener.trusts(SocketAddress(ip: "192.168.1.1", port: 0)!))
    }

    @Test("unknown top-level key, with a suggestion")
    func unknownTopLevelKey() {
        #expect(errors(config(extra: #", "stack": {}"#)) == [#"/stack: unknown option "stack" (did you mean "stacks"?)"#])
    }

    @Test("unknown type, with a suggestion")
    func unknownType() {
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "ecko", "text": "x"}]}"#))
            == [#"/stacks/s/chain/0/type: unknown type "ecko" (did you mean "echo"?)"#])
    }

    @Test("unknown option of a type, with a suggestion")
    func unknownOption() {
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "echo", "txt": "x", "text": "y"}]}"#))
            == [#"/stacks/s/chain/0/txt: unknown option "txt" (did you mean "text"?)"#])
    }

    @Test("unknown named middleware")
    func unknownNamed() {
        let json = config(stacks: #""s": {"chain": ["gaurd", {"type": "echo", "text": "x"}]}"#,
                          extra: #", "middlewares": {"guard": {"type": "guard"}}"#)
        #expect(errors(json) == [#"/stacks/s/chain/0: unknown middleware "gaurd" (did you mean "guard"?)"#])
        let typeName = config(stacks: #""s": {"chain": ["note", {"type": "echo", "text": "x"}]}"#)
        #expect(errors(typeName) == [#"/stacks/s/chain/0: unknown middleware "note" (to use the type, write {"type": "note"})"#])
    }

    @Test("a terminal middleware that is not last")
    func terminalNotLast() {
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "echo", "text": "x"}, {"type": "note"}]}"#))
            == [#"/stacks/s/chain/0: "echo" ends a chain, so it must be last"#])
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "echo", "text": "x"}, {"type": "echo", "text": "y"}]}"#))
            == [#"/stacks/s/chain/0: "echo" ends a chain, so it must be last"#])
    }

    @Test("a chain without a terminal middleware")
    func noTerminal() {
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "note"}, {"type": "guard"}]}"#))
            == ["/stacks/s/chain: the chain must end in a terminal middleware (one of branch, echo)"])
        #expect(errors(config(stacks: #""s": {"chain": []}"#))
            == ["/stacks/s/chain: a chain needs at least one middleware (and must end in a terminal one)"])
    }

    @Test("a missing required option")
    func missingRequired() {
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "echo"}]}"#)) == ["/stacks/s/chain/0/text: required"])
        #expect(errors(config(stacks: #""s": {"chain": [{"text": "x"}]}"#)) == ["/stacks/s/chain/0/type: required"])
        #expect(errors(#"{"version": 1, "stacks": {"s": {"chain": [{"type": "echo", "text": "x"}]}}}"#) == ["/listeners: required"])
    }

    @Test("bad sizes and durations")
    func badUnits() {
        let json = config(stacks: #"""
            "s": {"maxBodyBytes": "12 parsecs", "timeout": "soon",
                  "chain": [{"type": "echo", "text": "x", "delay": "3 fortnights", "limit": -5}]}
            """#, extra: #", "drainTimeout": true"#)
        #expect(Set(errors(json)) == [
            #"/drainTimeout: expected a duration such as 30, "250ms", "30s", "5m" or "1h""#,
            #"/stacks/s/maxBodyBytes: expected a size such as 65536, "64KiB" or "20GiB""#,
            #"/stacks/s/timeout: expected a duration such as 30, "250ms", "30s", "5m" or "1h""#,
            #"/stacks/s/chain/0/delay: expected a duration such as 30, "250ms", "30s", "5m" or "1h""#,
            #"/stacks/s/chain/0/limit: expected a size such as 65536, "64KiB" or "20GiB""#,
        ])
    }

    @Test("an unknown stack in run, and a stack listed twice")
    func unknownStackInRun() {
        #expect(errors(config(extra: #", "run": ["s", "ss", "s"]"#)) == [
            #"/run/1: unknown stack "ss" (did you mean "s"?)"#,
            #"/run/2: stack "s" listed twice"#,
        ])
    }

    @Test("a stack that names an unknown listener")
    func unknownListener() {
        #expect(errors(config(stacks: #""s": {"listeners": ["wbe"], "chain": [{"type": "echo", "text": "x"}]}"#))
            == [#"/stacks/s/listeners: unknown listener "wbe" (did you mean "web"?)"#])
    }

    @Test("bad listen addresses, and one address used twice")
    func badListen() {
        let json = #"""
            {"version": 1, "listeners": [{"name": "a", "listen": "localhost"}, {"name": "b", "listen": ["127.0.0.1:99999", "1.2.3:80"]},
                                         {"name": "c", "listen": "127.0.0.1:8080"}, {"name": "d", "listen": "127.0.0.1:8080"}],
             "stacks": {"s": {"chain": [{"type": "echo", "text": "x"}]}}}
            """#
        let found = errors(json)
        #expect(found.count == 4)
        #expect(found.filter { $0.hasPrefix("/listeners/0/listen: \"localhost\" is not an address") }.count == 1)
        #expect(found.filter { $0.hasPrefix("/listeners/1/listen: \"127.0.0.1:99999\" is not an address") }.count == 1)
        #expect(found.filter { $0.hasPrefix("/listeners/1/listen: \"1.2.3:80\" is not an address") }.count == 1)
        #expect(found.filter { $0.hasPrefix("/listeners/3/listen: 127.0.0.1:8080 is already used by /listeners/2") }.count == 1)
    }

    @Test("${ENV} expands, a missing variable is an error at its option, $${ stays literal")
    func environment() throws {
        let json = config(stacks: #""s": {"chain": [{"type": "echo", "text": "${GREETING}, $${NOT_A_VAR} ${lower}"}]}"#)
        let (pipeline, diagnostics) = load(json, variables: ["GREETING": "hello"])
        #expect(diagnostics.errors.isEmpty)
        #expect(pipeline != nil)
        #expect(ConfigEnvironment(variables: ["GREETING": "hello"], baseDirectory: "/").expand("${GREETING}, $${NOT_A_VAR} ${lower}").0
            == "hello, ${NOT_A_VAR} ${lower}")
        #expect(errors(json) == ["/stacks/s/chain/0/text: environment variable GREETING is not set"])
    }

    @Test("a secret given both inline and as a file, and a secret file that is missing")
    func secrets() {
        #expect(errors(config(stacks: #""s": {"chain": [{"type": "guard", "token": "x", "tokenFile": "/t"}, {"type": "echo", "text": "x"}]}"#))
            == [#"/stacks/s/chain/0/tokenFile: give either "token" or "tokenFile", not both"#])
        let missing = errors(config(stacks: #""s": {"chain": [{"type": "guard", "tokenFile": "/nonexistent/token"}, {"type": "echo", "text": "x"}]}"#))
        #expect(missing.count == 1)
        #expect(missing.first?.hasPrefix(#"/stacks/s/chain/0/tokenFile: cannot read file "/nonexistent/token""#) == true)
    }

    @Test("a duplicate JSON key is an error with its line and column")
    func duplicateKey() {
        let json = "{\"version\": 1,\n \"version\": 2}"
        #expect(errors(json) == [#"/: invalid JSON: line 2, column 2: duplicate key "version""#])
    }

    @Test("invalid JSON reports line and column")
    func invalidJSON() {
        #expect(errors("{\n  \"version\": 1,\n  \"stacks\": {,}\n}") == ["/: invalid JSON: line 3, column 14: expected a key in quotes"])
        #expect(errors("{\"version\": 1,}") == ["/: invalid JSON: line 1, column 15: expected a key in quotes"])
        #expect(errors("[]") == ["/: expected an object, got array"])
    }

    @Test("named middlewares that include each other are refused as recursion")
    func recursion() {
        let json = config(stacks: #""s": {"chain": ["a"]}"#, extra: #"""
            , "middlewares": {"a": {"type": "branch", "chain": ["b"]}, "b": {"type": "branch", "chain": ["a"]}}
            """#)
        let found = errors(json)
        #expect(found.contains("/middlewares/b/chain/0: recursion: a -> b -> a"))
        #expect(found.allSatisfy { !$0.contains("stacks") || $0.contains("recursion") || $0.contains("nested") })
    }

    @Test("a cache before auth is a warning, not an error")
    func phaseOrderWarning() throws {
        let (pipeline, diagnostics) = load(config(stacks: #""s": {"chain": [{"type": "memo"}, {"type": "guard"}, {"type": "echo", "text": "x"}]}"#))
        #expect(pipeline != nil)
        #expect(diagnostics.errors.isEmpty)
        #expect(diagnostics.warnings.map(\.description)
            == [#"/stacks/s/chain/1: "guard" (auth) runs after "memo" (cache); a cache before auth serves private answers to anyone"#])
        #expect(pipeline?.warnings.count == 1)
    }

    @Test("a type that says it may stand before the cache does so without a warning; another behaviour there is warned about")
    func positions() throws {
        let fetcher = MiddlewareType(name: "fetcher", summary: "sends its own requests down the chain", phase: .behaviour, mayPrecede: [.cache],
                                     options: []) { _, _ in TestTypes.Pass() }
        let plain = MiddlewareType(name: "plain", summary: "a behaviour", phase: .behaviour, options: []) { _, _ in TestTypes.Pass() }
        let registry = TypeRegistry(middlewares: [TestTypes.echo, TestTypes.memo, TestTypes.guardType, fetcher, plain], sources: [])
        func warnings(_ chain: String) -> [String] {
            let json = config(stacks: #""s": {"chain": \#(chain)}"#)
            let (pipeline, diagnostics) = PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: "/tmp"),
                                                              registry: registry)
            #expect(pipeline != nil)
            return diagnostics.warnings.map(\.description)
        }
        #expect(warnings(#"[{"type": "fetcher"}, {"type": "memo"}, {"type": "echo", "text": "x"}]"#) == [])
        #expect(warnings(#"[{"type": "plain"}, {"type": "memo"}, {"type": "echo", "text": "x"}]"#)
            == [#"/stacks/s/chain/1: "memo" (cache) runs after "plain" (behaviour); the usual order is log, tls, auth, cache, behaviour, upstream"#])
        // Where it may stand is only the cache: auth after it is still warned about.
        #expect(warnings(#"[{"type": "fetcher"}, {"type": "guard"}, {"type": "echo", "text": "x"}]"#).count == 1)
    }

    @Test("chain rules registered with the types rewrite every chain, nested ones included")
    func chainRules() async throws {
        let marker = ChainRule(name: "marker") { elements, stack, _ in
            [ChainElement(TestTypes.Fixed(text: "rewritten in \(stack.name) with \(stack.members.count) members"), at: elements[0].pointer)] + elements
        }
        let registry = TypeRegistry(middlewares: [TestTypes.echo, TestTypes.note], sources: [], chainRules: [marker])
        let json = config(stacks: #""s": {"chain": [{"type": "note"}, {"type": "echo", "text": "x"}]}"#)
        let (pipeline, diagnostics) = PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: "/tmp"),
                                                          registry: registry)
        let loaded = try #require(pipeline, "\(diagnostics.errors)")
        let first = try #require(loaded.stacks.first?.chain.middlewares.first as? TestTypes.Fixed)
        #expect(first.text == "rewritten in s with 2 members")
    }

    @Test("a declared stack missing from run is a warning")
    func stackNotRun() {
        let (_, diagnostics) = load(config(stacks: #""s": {"chain": [{"type": "echo", "text": "x"}]}, "t": {"chain": [{"type": "echo", "text": "y"}]}"#,
                                           extra: #", "run": ["s"]"#))
        #expect(diagnostics.warnings.map(\.description) == [#"/stacks/t: not listed in "run", so it serves nothing"#])
    }

    @Test("three different mistakes are all reported at once")
    func everyErrorAtOnce() {
        let json = #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "nowhere"}],
             "stacks": {"s": {"maxBodyBytes": "lots", "chain": [{"type": "ech", "text": "x"}]}}}
            """#
        let (pipeline, diagnostics) = load(json)
        #expect(pipeline == nil)
        #expect(diagnostics.errors.map(\.pointer.description) == ["/listeners/0/listen", "/stacks/s/maxBodyBytes", "/stacks/s/chain/0/type"])
    }

    @Test("version must be 1")
    func version() {
        #expect(errors(config().replacing(#""version": 1"#, with: #""version": 2"#))
            == ["/version: unsupported version 2; this gateway reads version 1"])
        #expect(errors(config().replacing(#""version": 1, "#, with: "")) == ["/version: required"])
    }

    @Test("TLS needs a certificate and key that load")
    func tlsErrors() {
        let json = #"""
            {"version": 1, "listeners": [{"name": "a", "listen": "127.0.0.1:0", "tls": {"certificate": "/nonexistent.pem"}},
                                         {"name": "b", "listen": "127.0.0.1:1", "tls": {}},
                                         {"name": "c", "listen": "127.0.0.1:2", "tls": {"certificate": "/nonexistent.pem", "key": "/nonexistent-key.pem"},
                                          "protocols": ["http/1.1", "h3"]}],
             "stacks": {"s": {"chain": [{"type": "echo", "text": "x"}]}}}
            """#
        let found = errors(json)
        #expect(found.contains("/listeners/0/tls/key: required"))
        #expect(found.contains(#"/listeners/1/tls: give "certificate" and "key", or "certificates": [{"certificate", "key"}, ...]"#))
        #expect(found.contains("/listeners/2/tls/certificate: certificate /nonexistent.pem: No such file or directory"))
        #expect(found.contains("/listeners/2/tls/key: private key /nonexistent-key.pem: No such file or directory"))
        #expect(found.contains { $0.hasPrefix(#"/listeners/2/protocols: unknown protocol "h3""#) })
    }
}

@Suite("durations written back as pipeline.json writes them")
struct DurationFormatTests {
    @Test("the largest whole unit: 30s, 250ms, 5m, 1h, 2d; what does not divide stays in a smaller one", arguments: [
        ("30s", "30s"), ("250ms", "250ms"), ("5m", "5m"), ("1h", "1h"), ("2d", "2d"), ("1500ms", "1500ms"),
        ("90", "90s"), ("0", "0s"), ("120", "2m"), ("86400", "1d"),
    ])
    func format(_ written: String, _ expected: String) throws {
        let duration = try #require(Units.duration(written))
        #expect(Units.format(duration) == expected)
        #expect(Units.duration(Units.format(duration)) == duration, "the form must read back as the same duration")
    }
}
