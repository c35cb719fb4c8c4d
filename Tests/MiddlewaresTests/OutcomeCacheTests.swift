import Synchronization
import Testing
@testable import Middlewares
@testable import Pipeline

private struct Failed: Error {}

/// Counts runs of the work, from any task.
private final class Runs: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.wrappingAdd(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A clock the test moves by hand.
private final class BackoffClock: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let start = ContinuousClock.now
    var now: @Sendable () -> ContinuousClock.Instant { { self.start + self.offset.withLock { $0 } } }
    func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
}

/// A flag the test raises while work waits for it.
private final class Flag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}

@Suite("outcome cache: once per key, failures remembered with backoff")
struct OutcomeCacheTests {
    @Test("concurrent asks for one key share one run, and its value is kept")
    func singleFlight() async throws {
        let cache = OutcomeCache<String, Int>(maxEntries: 10)
        let runs = Runs()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await cache.value(for: "k") {
                        runs.add()
                        try await Task.sleep(for: .milliseconds(50))
                        return 42
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: 42, count: 20))
        #expect(runs.value == 1)
        #expect(try await cache.value(for: "k") { 0 } == 42)
        #expect(cache.cached("k") == 42)
    }

    @Test("stop cancels the running work, refuses new work, keeps known values; work cut short is not a remembered failure")
    func stop() async throws {
        let cache = OutcomeCache<String, Int>(maxEntries: 10)
        #expect(try await cache.value(for: "known") { 1 } == 1)
        let cancelled = Flag()
        let running = Task {
            try await cache.value(for: "slow") {
                do {
                    try await Task.sleep(for: .seconds(600))
                } catch {
                    cancelled.raise()
                    throw error
                }
                return 2
            }
        }
        while cache.count < 2 { await Task.yield() }
        await cache.stop()
        await #expect(throws: CancellationError.self) { try await running.value }
        #expect(cancelled.isRaised)
        #expect(!cache.remembersFailure("slow"))
        #expect(try await cache.value(for: "known") { 0 } == 1)
        let runs = Runs()
        await #expect(throws: OutcomeCache<String, Int>.Stopped.self) { try await cache.value(for: "new") { runs.add(); return 3 } }
        #expect(cache.peek("other") { runs.add(); return 4 } == nil)
        #expect(runs.value == 0)
    }

    @Test("a failure is not retried within its backoff; after it one new run, and the wait doubles")
    func failureBackoff() async throws {
        let clock = BackoffClock()
        let cache = OutcomeCache<String, Int>(maxEntries: 10, firstRetry: .seconds(30), maxRetry: .seconds(3600), now: clock.now)
        let runs = Runs()
        let failing: @Sendable () async throws -> Int = {
            runs.add()
            throw Failed()
        }
        /// Waits until the failure is recorded (just after the caller sees it), so backoffs start at a known time.
        func failureRecorded() async {
            while !cache.remembersFailure("k") { await Task.yield() }
        }
        await #expect(throws: Failed.self) { try await cache.value(for: "k", work: failing) }
        await failureRecorded()
        // Asked again and again within the backoff: the remembered error, no new run.
        clock.advance(.seconds(29))
        for _ in 0..<10 {
            await #expect(throws: Failed.self) { try await cache.value(for: "k", work: failing) }
            #expect(cache.peek("k", startingWith: failing) == nil)
        }
        #expect(runs.value == 1)
        clock.advance(.seconds(2))
        await #expect(throws: Failed.self) { try await cache.value(for: "k", work: failing) }
        #expect(runs.value == 2)
        await failureRecorded()
        // The second backoff is twice the first: still backing off 59 s later, not 61 s later.
        clock.advance(.seconds(59))
        await #expect(throws: Failed.self) { try await cache.value(for: "k", work: failing) }
        #expect(runs.value == 2)
        clock.advance(.seconds(2))
        // A success then replaces the failure.
        #expect(try await cache.value(for: "k") { 7 } == 7)
        #expect(runs.value == 2)
        #expect(cache.cached("k") == 7)
    }

    @Test("a failure with Retry-After (a spent rate limit) is tried again then, and repeated meanwhile with the seconds left")
    func retryAfterFailure() async throws {
        let clock = BackoffClock()
        let cache = OutcomeCache<String, Int>(maxEntries: 10, firstRetry: .seconds(5), maxRetry: .seconds(300), now: clock.now)
        let runs = Runs()
        let limited: @Sendable () async throws -> Int = {
            runs.add()
            throw HTTPError(.serviceUnavailable, "upstream rate limit reached; retry later", headers: ["Retry-After": "600"])
        }
        func retryAfter() async -> String? {
            do {
                _ = try await cache.value(for: "k", work: limited)
                return nil
            } catch let error as HTTPError {
                return error.headers["Retry-After"]
            } catch {
                return nil
            }
        }
        #expect(await retryAfter() == "600")
        while !cache.remembersFailure("k") { await Task.yield() }
        // Past the ordinary backoff (5 s, even doubled to its 300 s cap) the limit still holds.
        clock.advance(.seconds(400))
        #expect(await retryAfter() == "200")
        #expect(runs.value == 1)
        clock.advance(.seconds(201))
        #expect(try await cache.value(for: "k") { 3 } == 3, "tried again once the limit resets, not minutes later")
    }

    @Test("peek never waits: nil while the work runs, the value once it is known")
    func peek() async throws {
        let cache = OutcomeCache<Int, String>(maxEntries: 10)
        let gate = Flag()
        #expect(cache.peek(1) {
            while !gate.isRaised { try await Task.sleep(for: .milliseconds(5)) }
            return "done"
        } == nil)
        #expect(cache.peek(1) { "second run" } == nil)
        gate.raise()
        var value: String?
        for _ in 0..<200 where value == nil {
            try await Task.sleep(for: .milliseconds(10))
            value = cache.peek(1) { "second run" }
        }
        #expect(value == "done")
    }

    @Test("beyond maxEntries the oldest results go")
    func bounded() async throws {
        let cache = OutcomeCache<Int, Int>(maxEntries: 10)
        for i in 0..<30 { _ = try await cache.value(for: i) { i } }
        #expect(cache.count <= 10)
        #expect(cache.cached(29) == 29)
        #expect(cache.cached(0) == nil)
    }
}
