@testable import Middlewares
import Pipeline
import Synchronization
import Testing

@Suite("GitHub metadata cache: freshness, single flight, invalidation, stale on refusal")
struct GitHubMetadataCacheTests {
    static func answer(_ value: String, etag: String = "e1") -> CachedAnswer {
        CachedAnswer(status: 200, pages: [CachedPage(url: "u", etag: etag, mediaType: "application/json", body: Array(value.utf8), next: nil)], value: value)
    }

    @Test("a fresh answer is served without loading; concurrent callers share one load")
    func singleFlight() async throws {
        let cache = GitHubMetadataCache(freshFor: .seconds(60), maxBytes: 1 << 20)
        let loads = Counter()
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let answer = try await cache.answer("k", scope: "repo:a") { _ in
                        loads.add()
                        try await Task.sleep(for: .milliseconds(50))
                        return Self.answer("v1")
                    }
                    return answer.value as! String
                }
            }
            for try await value in group { #expect(value == "v1") }
        }
        #expect(loads.value == 1)
        _ = try await cache.answer("k", scope: "repo:a") { _ in
            loads.add()
            return Self.answer("v2")
        }
        #expect(loads.value == 1, "fresh: no load")
    }

    @Test("a stale answer is revalidated with the previous answer at hand")
    func revalidation() async throws {
        let cache = GitHubMetadataCache(freshFor: .zero, maxBytes: 1 << 20)
        _ = try await cache.answer("k", scope: "repo:a") { previous in
            #expect(previous == nil)
            return Self.answer("v1")
        }
        let generation = cache.generation
        let second = try await cache.answer("k", scope: "repo:a") { previous in
            #expect(previous?.pages.first?.etag == "e1")
            return previous!
        }
        #expect(second.value as? String == "v1")
        #expect(cache.generation == generation, "an unchanged answer keeps the generation")
        _ = try await cache.answer("k", scope: "repo:a") { _ in Self.answer("v2", etag: "e2") }
        #expect(cache.generation != generation, "a changed answer moves it")
    }

    @Test("invalidation makes an answer stale at once and only for its scope")
    func invalidation() async throws {
        let cache = GitHubMetadataCache(freshFor: .seconds(3600), maxBytes: 1 << 20)
        _ = try await cache.answer("a", scope: "repo:a") { _ in Self.answer("a1") }
        _ = try await cache.answer("b", scope: "repo:b") { _ in Self.answer("b1") }
        cache.invalidate { $0 == "repo:a" }
        let a = try await cache.answer("a", scope: "repo:a") { _ in Self.answer("a2", etag: "e2") }
        let b = try await cache.answer("b", scope: "repo:b") { _ in Self.answer("b2", etag: "e2") }
        #expect(a.value as? String == "a2")
        #expect(b.value as? String == "b1")
    }

    @Test("a load running when an invalidation arrives does not store its answer as fresh")
    func invalidationDuringLoad() async throws {
        let cache = GitHubMetadataCache(freshFor: .seconds(3600), maxBytes: 1 << 20)
        let started = AsyncStream<Void>.makeStream()
        async let slow = cache.answer("k", scope: "repo:a") { _ in
            started.continuation.yield()
            try await Task.sleep(for: .milliseconds(200))
            return Self.answer("old")
        }
        for await _ in started.stream { break }
        cache.invalidate { _ in true }
        #expect(try await slow.value as? String == "old")
        let after = try await cache.answer("k", scope: "repo:a") { _ in Self.answer("new", etag: "e2") }
        #expect(after.value as? String == "new")
    }

    @Test("when GitHub refuses (rate limit, outage) the stale answer stands in, and is not asked again until the wait is over")
    func staleOnRefusal() async throws {
        let cache = GitHubMetadataCache(freshFor: .zero, maxBytes: 1 << 20)
        _ = try await cache.answer("k", scope: "repo:a") { _ in Self.answer("v1") }
        let stale = try await cache.answer("k", scope: "repo:a") { _ in throw GitHubError.rateLimited(retryAfter: 30) }
        #expect(stale.value as? String == "v1")
        let loads = Counter()
        let held = try await cache.answer("k", scope: "repo:a") { _ in
            loads.add()
            return Self.answer("v2", etag: "e2")
        }
        #expect(held.value as? String == "v1")
        #expect(loads.value == 0, "no call before the rate limit resets")
        await #expect(throws: GitHubError.self) {
            _ = try await cache.answer("other", scope: "repo:a") { _ in throw GitHubError.rateLimited(retryAfter: 30) }
        }
    }

    @Test("failures that stale data cannot excuse (refused credentials) pass through")
    func credentialsFailure() async throws {
        let cache = GitHubMetadataCache(freshFor: .zero, maxBytes: 1 << 20)
        _ = try await cache.answer("k", scope: "repo:a") { _ in Self.answer("v1") }
        await #expect(throws: GitHubError.self) {
            _ = try await cache.answer("k", scope: "repo:a") { _ in throw GitHubError.credentials("bad key") }
        }
    }

    @Test("memory stays under the cap: least recently used answers go")
    func eviction() async throws {
        let cache = GitHubMetadataCache(freshFor: .seconds(3600), maxBytes: 10_000)
        for i in 0..<20 {
            _ = try await cache.answer("k\(i)", scope: "repo:a") { _ in Self.answer(String(repeating: "x", count: 1000)) }
        }
        #expect(cache.usage.bytes <= 10_000)
        #expect(cache.usage.entries < 20)
    }
}

/// A shared count for closures that run concurrently.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.wrappingAdd(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
