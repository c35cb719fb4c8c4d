import Glibc
import Synchronization
import Testing
@testable import Pipeline

/// A behaviour that keeps the downstream its factory asked for, to fetch through it later.
private struct Fetcher: Middleware {
    let downstream: Downstream
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response { try await next(request, context) }
}

/// Answers with the text and counts what it answered, as an upstream would.
private struct Counter: Middleware {
    let text: String
    let built: Built
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        built.seen.withLock { $0.append("\(text) \(request.path) \(context.stack)") }
        return Response(status: .ok, body: ResponseBody(string: text))
    }
}

/// A flag the test raises while a job waits for it.
private final class Flag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Built by the types below; the tests read what the factories kept.
private final class Built: @unchecked Sendable {
    var downstreams: [Downstream] = []
    let seen = Mutex<[String]>([])
}

private func registry(_ built: Built) -> TypeRegistry {
    let fetcher = MiddlewareType(name: "fetcher", summary: "asks for a downstream", phase: .behaviour, options: []) { _, context in
        let downstream = context.downstream()
        built.downstreams.append(downstream)
        return Fetcher(downstream: downstream)
    }
    let counter = MiddlewareType(name: "counter", summary: "terminal", phase: .upstream, isTerminal: true,
                                 options: [OptionSpec("text", "string", "")]) { options, _ in
        Counter(text: options.string("text") ?? "", built: built)
    }
    let pass = MiddlewareType(name: "pass", summary: "passes", phase: .cache, options: []) { _, _ in TestTypes.Pass() }
    return TypeRegistry(middlewares: [fetcher, counter, pass, TestTypes.guardType], sources: [])
}

private func load(_ json: String, _ built: Built) -> (LoadedPipeline?, Diagnostics) {
    PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: "/tmp"), registry: registry(built))
}

@Suite("downstream: the rest of a chain, for fetches outside a request")
struct DownstreamTests {
    @Test("a factory's downstream is bound to the middlewares after it, and takes no place in the chain")
    func boundToTheRest() async throws {
        let built = Built()
        let (pipeline, diagnostics) = load(#"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"s": {"chain": [{"type": "guard"}, {"type": "fetcher"}, {"type": "pass"}, {"type": "counter", "text": "up"}]}}}
            """#, built)
        #expect(diagnostics.errors.isEmpty)
        let stack = try #require(pipeline?.stacks.first)
        #expect(stack.chain.middlewares.count == 4)
        let downstream = try #require(built.downstreams.first)
        let response = try await downstream.fetch(Request(target: "/object"))
        #expect(try await response.body.collect(upTo: 100) == Array("up".utf8))
        // A background fetch runs in a context of the stack, and only the middlewares after the fetcher see it.
        #expect(built.seen.withLock { $0 } == ["up /object s"])
    }

    @Test("a named behaviour used by two chains fetches through the first, with a warning at the second")
    func namedInTwoChains() async throws {
        let built = Built()
        let (pipeline, diagnostics) = load(#"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "middlewares": {"f": {"type": "fetcher"}},
             "stacks": {"a": {"match": {"pathPrefix": "/a/"}, "chain": ["f", {"type": "counter", "text": "first"}]},
                        "b": {"chain": ["f", {"type": "counter", "text": "second"}]}},
             "run": ["a", "b"]}
            """#, built)
        #expect(diagnostics.errors.isEmpty)
        #expect(pipeline != nil)
        #expect(built.downstreams.count == 1)
        #expect(diagnostics.warnings.map(\.description) == [
            "/stacks/b/chain/0: also used in another chain: what it fetches in the background goes through the first chain's cache",
        ])
        let response = try await built.downstreams[0].fetch(Request(target: "/x"))
        #expect(try await response.body.collect(upTo: 100) == Array("first".utf8))
    }

    @Test("an unbound downstream refuses to fetch instead of hanging")
    func unbound() async throws {
        await #expect(throws: HTTPError.self) { try await Downstream().fetch(Request(target: "/")) }
    }
}

@Suite("blocking pool")
struct BlockingPoolTests {
    @Test("a long job holds one worker; the jobs queued after it run on the others", .timeLimit(.minutes(1)))
    func longJobDoesNotBlockTheQueue() async throws {
        let pool = BlockingPool(threads: 2, maxQueued: 16)
        let release = Flag()
        let long = Task {
            try await pool.run {
                while !release.isRaised { usleep(1000) }
                return 0
            }
        }
        // Jobs submitted while the long one runs finish without it.
        var results: [Int] = []
        for i in 1...6 { results.append(try await pool.run { i }) }
        #expect(results == [1, 2, 3, 4, 5, 6])
        release.raise()
        #expect(try await long.value == 0)
        #expect(pool.pending == 0)
    }

    @Test("beyond maxQueued callers get Busy at once; errors from the work are rethrown")
    func busyAndErrors() async throws {
        let pool = BlockingPool(threads: 1, maxQueued: 1)
        let release = Flag()
        let holder = Task { try await pool.run { while !release.isRaised { usleep(1000) } } }
        // Yielding, not sleeping the thread: the holder needs one of the few threads tasks share to get queued.
        while pool.pending == 0 { try await Task.sleep(for: .milliseconds(1)) }
        await #expect(throws: BlockingPool.Busy.self) { try await pool.run { 1 } }
        release.raise()
        _ = try await holder.value
        await #expect(throws: SystemError.self) { try await pool.run { throw SystemError(call: "x", code: 5) } }
    }
}

@Suite("spool")
struct SpoolTests {
    @Test("a streamed body lands in an anonymous file with its sha256, whatever its chunks")
    func spoolsAndHashes() async throws {
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let body = ResponseBody(length: bytes.count) { writer in
            var offset = 0
            for size in [1, 65_536, 1_500_000, 7] {
                try await writer.write(Array(bytes[offset..<offset + size]))
                offset += size
            }
            try await writer.write(Array(bytes[offset...]))
        }
        let spooled = try await Spool.collect(body)
        #expect(spooled.file.size == Int64(bytes.count))
        #expect(spooled.sha256 == Digest.sha256(bytes))
        #expect(try spooled.file.read(at: 2_999_990, count: 10) == Array(bytes[2_999_990...]))
    }

    @Test("a body larger than maxBytes fails")
    func capped() async throws {
        await #expect(throws: BodyTooLarge.self) {
            _ = try await Spool.collect(ResponseBody(bytes: [UInt8](repeating: 1, count: 2000)), maxBytes: 1000)
        }
    }
}
