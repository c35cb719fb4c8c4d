import Foundation
import Pipeline
import Synchronization
import Testing
@testable import Middlewares

/// Collects a response body as a client would receive it.
final class CollectingWriter: ResponseBodyWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [UInt8] = []
    var bytes: [UInt8] { lock.withLock { collected } }
    func write(_ chunk: [UInt8]) async throws { lock.withLock { collected += chunk } }
}

/// Holds producers until the test lets them go, so followers provably join before data flows.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { continuation in
            let open = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A fake upstream: counts calls, answers with `chunks` after the gate opens, optionally failing midway.
final class FakeUpstream: Sendable {
    let calls = Atomic<Int>(0)
    let gate = Gate()
    let chunks: [[UInt8]]
    let failAfter: Int?
    let headers: HTTPFields

    init(chunks: [[UInt8]], failAfter: Int? = nil, headers: HTTPFields = ["Cache-Control": "max-age=60", "ETag": "\"v1\""]) {
        self.chunks = chunks
        self.failAfter = failAfter
        self.headers = headers
    }

    var body: [UInt8] { chunks.flatMap { $0 } }

    var next: Next {
        { [self] _, _ in
            calls.add(1, ordering: .relaxed)
            let chunks = self.chunks, failAfter = self.failAfter, gate = self.gate
            return Response(status: .ok, headers: headers, body: ResponseBody(length: chunks.reduce(0) { $0 + $1.count }) { writer in
                await gate.wait()
                for (i, chunk) in chunks.enumerated() {
                    if let failAfter, i == failAfter { throw ClientError.closed }
                    try await writer.write(chunk)
                    await Task.yield()
                }
            })
        }
    }
}

@Suite("cache coalescing: one fetch per key, every waiting client streams from it")
struct CacheCoalescingTests {
    func makeCache(memory: Int = 1 << 20, xCache: Bool = true) -> Cache {
        let store = CacheStore(name: "test", memory: MemoryStore(budget: memory, maxObjectBytes: memory / 8), disk: nil,
                               maxObjectBytes: Int64(memory / 8), windowBytes: 4096)
        return Cache(store: store, policy: CachePolicy(), keyHeaders: [], xCache: xCache, metricsPath: nil)
    }

    func chunks(_ count: Int, size: Int) -> [[UInt8]] {
        (0..<count).map { i in [UInt8](repeating: UInt8(i % 256), count: size) }
    }

    /// Runs `count` concurrent GETs and returns their responses once every one has its head.
    func concurrentResponses(_ cache: Cache, _ upstream: FakeUpstream, count: Int, path: String = "/object") async throws -> [Response] {
        try await withThrowingTaskGroup(of: Response.self) { group in
            for i in 0..<count {
                group.addTask {
                    try await cache.handle(Request(authority: "example.com", path: path), context: Context(requestID: "r\(i)"), next: upstream.next)
                }
            }
            var responses: [Response] = []
            for try await response in group { responses.append(response) }
            return responses
        }
    }

    /// Writes every body concurrently; the bytes each got, or nil where the body failed.
    func bodies(_ responses: [Response]) async -> [[UInt8]?] {
        await withTaskGroup(of: [UInt8]?.self) { group in
            for response in responses {
                group.addTask {
                    let writer = CollectingWriter()
                    do {
                        try await response.body.write(to: writer)
                        return writer.bytes
                    } catch {
                        return nil
                    }
                }
            }
            var result: [[UInt8]?] = []
            for await body in group { result.append(body) }
            return result
        }
    }

    @Test("stop ends the fill in flight (every follower's body fails, nothing is stored) and later misses are not filled")
    func stopEndsFills() async throws {
        let cache = makeCache()
        let upstream = FakeUpstream(chunks: chunks(20, size: 1000))
        let responses = try await concurrentResponses(cache, upstream, count: 5)
        #expect(upstream.calls.load(ordering: .relaxed) == 1)
        await cache.stop()
        #expect(cache.store.isStopped)
        upstream.gate.open()
        let bodies = await bodies(responses)
        #expect(bodies.allSatisfy { $0 == nil }, "a stopped cache's fill must not complete")
        #expect(cache.store.memory.usage.entries == 0)
        // A request that still reaches the stopped cache passes through it: whole, and not stored.
        let later = try await cache.handle(Request(authority: "example.com", path: "/object"), context: Context(requestID: "late"),
                                           next: upstream.next)
        let writer = CollectingWriter()
        try await later.body.write(to: writer)
        #expect(writer.bytes == upstream.body)
        #expect(upstream.calls.load(ordering: .relaxed) == 2)
        #expect(cache.store.memory.usage.entries == 0)
    }

    @Test("50 concurrent misses make one upstream call and all 50 bodies are the whole object")
    func coalesces() async throws {
        let cache = makeCache()
        let upstream = FakeUpstream(chunks: chunks(20, size: 1000))
        let responses = try await concurrentResponses(cache, upstream, count: 50)
        // Every response has its head while the upstream body is still held back: all of them follow the fill.
        #expect(upstream.calls.load(ordering: .relaxed) == 1)
        #expect(responses.allSatisfy { $0.headers["X-Cache"] == "MISS" && $0.body.length == 20_000 })
        upstream.gate.open()
        let received = await bodies(responses)
        #expect(received.count == 50)
        #expect(received.allSatisfy { $0 == upstream.body })
        #expect(cache.store.metrics.coalesced.load(ordering: .relaxed) == 49)

        // Stored once complete: the next request is a HIT with no upstream call.
        while cache.store.memory.usage.entries == 0 { await Task.yield() }
        let hit = try await cache.handle(Request(authority: "example.com", path: "/object"), context: Context(requestID: "h"), next: upstream.next)
        #expect(hit.headers["X-Cache"] == "HIT")
        #expect(await bodies([hit]) == [upstream.body])
        #expect(upstream.calls.load(ordering: .relaxed) == 1)
    }

    @Test("a fill that fails midway aborts every follower and is not kept")
    func failedFillIsDiscarded() async throws {
        let cache = makeCache()
        let upstream = FakeUpstream(chunks: chunks(10, size: 1000), failAfter: 5)
        let responses = try await concurrentResponses(cache, upstream, count: 10)
        upstream.gate.open()
        let received = await bodies(responses)
        #expect(received.allSatisfy { $0 == nil })
        #expect(cache.store.memory.usage.entries == 0)
        #expect(cache.store.metrics.fillFailures.load(ordering: .relaxed) == 1)

        // Nothing was stored: the next request fetches again (and this time a good upstream completes it).
        let again = try await cache.handle(Request(authority: "example.com", path: "/object"), context: Context(requestID: "a"),
                                           next: upstream.next)
        #expect(again.headers["X-Cache"] == "MISS")
        #expect(upstream.calls.load(ordering: .relaxed) == 2)
        #expect(await bodies([again]) == [nil])
    }

    @Test("an object larger than what may be stored still reaches every follower whole, within a bounded window")
    func oversizedObjectStreams() async throws {
        // 8 KiB memory: objects up to 1 KiB are stored; this one is 64 KiB, followed through a 4 KiB window.
        let cache = makeCache(memory: 8 * 1024)
        let upstream = FakeUpstream(chunks: chunks(64, size: 1024), headers: ["Cache-Control": "max-age=60"])
        // Unknown length, so the cache cannot refuse it up front.
        let unsized = FakeUpstreamUnsized(upstream)
        let responses = try await withThrowingTaskGroup(of: Response.self) { group in
            for i in 0..<5 {
                group.addTask {
                    try await cache.handle(Request(authority: "example.com", path: "/big"), context: Context(requestID: "b\(i)"), next: unsized.next)
                }
            }
            var all: [Response] = []
            for try await response in group { all.append(response) }
            return all
        }
        upstream.gate.open()
        let received = await bodies(responses)
        #expect(received.allSatisfy { $0 == upstream.body })
        #expect(upstream.calls.load(ordering: .relaxed) == 1)
        #expect(cache.store.memory.usage.entries == 0)
    }

    @Test("HEAD and Range are answered from the stored object")
    func headAndRange() async throws {
        let cache = makeCache()
        let upstream = FakeUpstream(chunks: chunks(4, size: 100))
        upstream.gate.open()
        let first = try await cache.handle(Request(authority: "example.com", path: "/o"), context: Context(requestID: "1"), next: upstream.next)
        _ = await bodies([first])
        // The fill stores the object just after its last reader finished.
        while cache.store.memory.usage.entries == 0 { await Task.yield() }
        let head = try await cache.handle(Request(method: .head, authority: "example.com", path: "/o"), context: Context(requestID: "2"),
                                          next: upstream.next)
        #expect(head.headers["Content-Length"] == "400")
        #expect(head.headers["X-Cache"] == "HIT")
        let range = try await cache.handle(Request(authority: "example.com", path: "/o", headers: ["Range": "bytes=150-249"]),
                                           context: Context(requestID: "3"), next: upstream.next)
        #expect(range.status == .partialContent)
        #expect(range.headers["Content-Range"] == "bytes 150-249/400")
        #expect(await bodies([range]) == [Array(upstream.body[150..<250])])
        let notModified = try await cache.handle(Request(authority: "example.com", path: "/o", headers: ["If-None-Match": "\"v1\""]),
                                                 context: Context(requestID: "4"), next: upstream.next)
        #expect(notModified.status == .notModified)
        #expect(upstream.calls.load(ordering: .relaxed) == 1)
    }

    @Test("stale-while-revalidate: one request revalidates, the others get the stale copy without waiting")
    func staleWhileRevalidate() async throws {
        let cache = makeCache()
        let calls = Atomic<Int>(0)
        let gate = Gate()
        let next: Next = { request, _ in
            let call = calls.add(1, ordering: .relaxed).newValue
            if call == 1 {
                // Stale at once (max-age=0) but servable for a minute while someone revalidates.
                return Response(status: .ok, headers: ["Cache-Control": "max-age=0, stale-while-revalidate=60", "ETag": "\"v1\""],
                                body: ResponseBody(bytes: Array("old".utf8)))
            }
            #expect(request.headers["If-None-Match"] == "\"v1\"")
            await gate.wait()
            return Response(status: .notModified, headers: ["Cache-Control": "max-age=60", "ETag": "\"v1\""])
        }
        let first = try await cache.handle(Request(authority: "e", path: "/swr"), context: Context(requestID: "1"), next: next)
        _ = await bodies([first])
        while cache.store.memory.usage.entries == 0 { await Task.yield() }

        let revalidating = Task { try await cache.handle(Request(authority: "e", path: "/swr"), context: Context(requestID: "2"), next: next) }
        while calls.load(ordering: .relaxed) < 2 { await Task.yield() }
        // The revalidation is held at the upstream; another request is answered from the stale copy.
        let other = try await cache.handle(Request(authority: "e", path: "/swr"), context: Context(requestID: "3"), next: next)
        #expect(other.headers["X-Cache"] == "STALE")
        #expect(await bodies([other]) == [Array("old".utf8)])
        gate.open()
        let refreshed = try await revalidating.value
        #expect(refreshed.headers["X-Cache"] == "HIT")
        #expect(await bodies([refreshed]) == [Array("old".utf8)])
        let fresh = try await cache.handle(Request(authority: "e", path: "/swr"), context: Context(requestID: "4"), next: next)
        #expect(fresh.headers["X-Cache"] == "HIT")
        #expect(calls.load(ordering: .relaxed) == 2)
    }

    @Test("a stored answer is only used for requests with the same values of the fields its Vary names")
    func vary() async throws {
        let cache = makeCache()
        let calls = Atomic<Int>(0)
        let next: Next = { request, _ in
            calls.add(1, ordering: .relaxed)
            return Response(status: .ok, headers: ["Cache-Control": "max-age=60", "Vary": "Accept"],
                            body: ResponseBody(bytes: Array((request.headers["Accept"] ?? "none").utf8)))
        }
        func get(_ accept: String) async throws -> Response {
            try await cache.handle(Request(authority: "e", path: "/v", headers: ["Accept": accept]), context: Context(requestID: accept), next: next)
        }
        _ = await bodies([try await get("json")])
        while cache.store.memory.usage.entries == 0 { await Task.yield() }
        let same = try await get("json")
        #expect(same.headers["X-Cache"] == "HIT")
        let other = try await get("xml")
        #expect(other.headers["X-Cache"] != "HIT")
        #expect(await bodies([other]) == [Array("xml".utf8)])
        #expect(calls.load(ordering: .relaxed) == 2)
    }

    @Test("requests with credentials pass through unless the stack caches them")
    func credentials() async throws {
        let upstream = FakeUpstream(chunks: chunks(1, size: 10))
        upstream.gate.open()
        let cache = makeCache()
        for i in 0..<2 {
            let response = try await cache.handle(Request(authority: "e", path: "/p", headers: ["Authorization": "Bearer x"]),
                                                  context: Context(requestID: "\(i)"), next: upstream.next)
            _ = await bodies([response])
        }
        #expect(upstream.calls.load(ordering: .relaxed) == 2)
        var policy = CachePolicy()
        policy.cacheAuthenticated = true
        let sharing = Cache(store: CacheStore(name: "t", memory: MemoryStore(budget: 1 << 20, maxObjectBytes: 1 << 17), disk: nil,
                                              maxObjectBytes: 1 << 17), policy: policy, keyHeaders: [], xCache: true, metricsPath: nil)
        for i in 0..<2 {
            let response = try await sharing.handle(Request(authority: "e", path: "/p", headers: ["Authorization": "Bearer x"]),
                                                    context: Context(requestID: "\(i)"), next: upstream.next)
            _ = await bodies([response])
        }
        #expect(upstream.calls.load(ordering: .relaxed) == 3)
    }

    @Test("an object a behaviour asks for by cacheKey is stored though it carries the source's Authorization and the client an identity")
    func behaviourObjectsWithSourceCredentials() async throws {
        let upstream = FakeUpstream(chunks: chunks(1, size: 10))
        upstream.gate.open()
        let cache = makeCache()
        for i in 0..<3 {
            var request = Request(url: "https://api.github.example/repos/acme/p/releases/assets/7",
                                  headers: ["Authorization": "Bearer installation-token-\(i)"])!
            request.upstream = UpstreamOptions(cacheKey: "github-asset:acme/p/7", immutable: true)
            let context = Context(requestID: "\(i)")
            context.identity = Identity(subject: "ci", method: "bearer")
            let response = try await cache.handle(request, context: context, next: upstream.next)
            #expect(await bodies([response]) == [upstream.body])
            while cache.store.memory.usage.entries == 0 { await Task.yield() }
        }
        #expect(upstream.calls.load(ordering: .relaxed) == 1)
    }
}

/// The same upstream without a Content-Length (as a chunked answer arrives).
struct FakeUpstreamUnsized: Sendable {
    let base: FakeUpstream
    init(_ base: FakeUpstream) { self.base = base }
    var next: Next {
        let next = base.next
        return { request, context in
            var response = try await next(request, context)
            response.body.length = nil
            return response
        }
    }
}
