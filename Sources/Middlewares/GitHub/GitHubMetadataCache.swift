import Pipeline
import Synchronization

/// One page of an answer as last fetched, kept so the next fetch of it can be conditional.
struct CachedPage: Sendable {
    let url: String
    let etag: String?
    /// The media type of the body, without parameters, lower case (`application/json`).
    let mediaType: String
    let body: [UInt8]
    let next: String?
}

/// What one logical call (all of its pages) produced, decoded once.
struct CachedAnswer: Sendable {
    /// 200 or 404 (a missing or invisible repository is remembered too).
    var status: Int
    var pages: [CachedPage]
    var value: any Sendable

    var bytes: Int { pages.reduce(256) { $0 + $1.url.utf8.count + $1.body.count * 2 } }

    /// Whether `other` holds the same pages (same validators, or the same bytes where there are none).
    func sameContent(as other: CachedAnswer) -> Bool {
        status == other.status && pages.count == other.pages.count
            && zip(pages, other.pages).allSatisfy { a, b in
                if let ea = a.etag, let eb = b.etag { return ea == eb }
                return a.body == b.body
            }
    }
}

/// The source's small response cache. An answer younger than `freshFor` is served without asking
/// GitHub; an older one is revalidated with `If-None-Match` (a 304 costs no rate limit). Loads are
/// single-flight per key, so a burst of clients costs one revalidation. When GitHub cannot answer
/// (rate limit spent, outage) a stale answer is served if there is one. Invalidation (webhooks)
/// marks answers stale at once, and detaches loads already running so none of them stores an
/// answer from before the change as fresh. Memory is bounded: least recently used answers go first.
final class GitHubMetadataCache: Sendable {
    private struct Entry {
        var answer: CachedAnswer
        var scope: String
        var validatedAt: ContinuousClock.Instant
        var stale: Bool
        var lastUsed: UInt64
        /// After GitHub failed and this answer stood in, it is used until then without asking again.
        var retryAt: ContinuousClock.Instant?
    }

    private struct Flight {
        let id: Int
        let task: Task<CachedAnswer, any Error>
        let scope: String
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var flights: [String: Flight] = [:]
        var bytes = 0
        var tick: UInt64 = 0
        var nextID = 0
    }

    let freshFor: Duration
    let maxBytes: Int
    private let state = Mutex(State())
    private let generationCounter = Atomic<UInt64>(1)
    private let loadCounter = Atomic<Int>(0)

    init(freshFor: Duration, maxBytes: Int) {
        self.freshFor = freshFor
        self.maxBytes = maxBytes
    }

    /// Changes whenever an answer changed or was invalidated.
    var generation: UInt64 { generationCounter.load(ordering: .relaxed) }

    /// How many loads (fetches or revalidations) ran so far.
    var loads: Int { loadCounter.load(ordering: .relaxed) }

    /// The answer for `key`: cached while fresh, else loaded once for every concurrent caller.
    /// `load` gets the previous answer (for its validators) and returns the new one. `scope` names
    /// what invalidates the key (`repo:<name>` or `owner`).
    func answer(_ key: String, scope: String, load: @escaping @Sendable (CachedAnswer?) async throws -> CachedAnswer) async throws -> CachedAnswer {
        enum Step { case hit(CachedAnswer), wait(Task<CachedAnswer, any Error>, Int) }
        let now = ContinuousClock.now
        let step: Step = state.withLock { state in
            state.tick += 1
            if let entry = state.entries[key] {
                state.entries[key]?.lastUsed = state.tick
                if !entry.stale, now - entry.validatedAt < freshFor || entry.retryAt.map({ now < $0 }) == true { return .hit(entry.answer) }
            }
            if let flight = state.flights[key] { return .wait(flight.task, flight.id) }
            state.nextID += 1
            let id = state.nextID
            let previous = state.entries[key]?.answer
            loadCounter.wrappingAdd(1, ordering: .relaxed)
            let task = Task(executorPreference: EventLoop.current) { try await load(previous) }
            state.flights[key] = Flight(id: id, task: task, scope: scope)
            return .wait(task, id)
        }
        switch step {
        case .hit(let answer):
            return answer
        case .wait(let task, let id):
            do {
                let answer = try await task.value
                store(answer, key: key, scope: scope, flight: id)
                return answer
            } catch {
                let failure = error as? GitHubError
                let stale: CachedAnswer? = state.withLock { state in
                    if state.flights[key]?.id == id { state.flights[key] = nil }
                    guard let failure, failure.allowsStale, state.entries[key] != nil else { return nil }
                    // Serve the stale answer for a while without asking again: until the rate
                    // limit resets, or a few seconds into an outage.
                    let wait: Duration = if case .rateLimited(let seconds) = failure { .seconds(seconds) } else { .seconds(5) }
                    state.entries[key]?.retryAt = .now + wait
                    return state.entries[key]?.answer
                }
                guard let failure, let stale else { throw error }
                Log.warning("github answer served stale", [("key", key), ("reason", failure.description)])
                return stale
            }
        }
    }

    private func store(_ answer: CachedAnswer, key: String, scope: String, flight id: Int) {
        let changed: Bool = state.withLock { state in
            // A flight detached by an invalidation does not store: it may predate the change.
            guard state.flights[key]?.id == id else { return false }
            state.flights[key] = nil
            state.tick += 1
            let old = state.entries[key]
            state.bytes -= old?.answer.bytes ?? 0
            state.entries[key] = Entry(answer: answer, scope: scope, validatedAt: .now, stale: false, lastUsed: state.tick)
            state.bytes += answer.bytes
            evict(&state, keeping: key)
            return old.map { !$0.answer.sameContent(as: answer) } ?? false
        }
        if changed { generationCounter.wrappingAdd(1, ordering: .relaxed) }
    }

    private func evict(_ state: inout State, keeping key: String) {
        while state.bytes > maxBytes, state.entries.count > 1 {
            guard let victim = state.entries.filter({ $0.key != key }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) else { return }
            state.bytes -= victim.value.answer.bytes
            state.entries[victim.key] = nil
        }
    }

    /// Marks every answer whose scope satisfies `matches` stale and detaches their loads.
    func invalidate(where matches: (String) -> Bool) {
        state.withLock { state in
            for (key, entry) in state.entries where matches(entry.scope) { state.entries[key]?.stale = true }
            for (key, flight) in state.flights where matches(flight.scope) { state.flights[key] = nil }
        }
        generationCounter.wrappingAdd(1, ordering: .relaxed)
    }

    /// Cancels the loads in flight and forgets them (the source was stopped).
    func stop() {
        let flights = state.withLock { state in
            defer { state.flights = [:] }
            return Array(state.flights.values)
        }
        for flight in flights { flight.task.cancel() }
    }

    /// The number of answers held and their estimated bytes.
    var usage: (entries: Int, bytes: Int) { state.withLock { ($0.entries.count, $0.bytes) } }
}
