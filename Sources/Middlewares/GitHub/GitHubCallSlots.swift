import Pipeline
import Synchronization

/// How many calls one source has in flight at GitHub at most. GitHub's secondary limits punish
/// concurrency ("Best practices for using the REST API": avoid concurrent requests; no more than
/// 100 at once), and a provider's first listing wants two asset calls per release, so callers
/// beyond `limit` wait here, first come first served, until a call ends.
///
/// ```swift
/// try await slots.withSlot { try await client.execute(request) }
/// ```
final class GitHubCallSlots: Sendable {
    private struct State {
        var inUse = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
        var stopped = false
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Runs `work` holding a slot; the slot is released when `work` returns or throws.
    func withSlot<T: Sendable>(_ work: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await work()
    }

    /// Waits for a slot (a cancelled waiter throws `CancellationError` and takes none).
    func acquire() async throws {
        let id: UInt64? = try state.withLock { state in
            if state.stopped { throw CancellationError() }
            if state.inUse < limit, state.waiters.isEmpty {
                state.inUse += 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    // A slot freed (or a cancellation came) between the two locks.
                    if Task.isCancelled { return true }
                    if state.inUse < limit, state.waiters.isEmpty {
                        state.inUse += 1
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return false
                }
                if resumeNow {
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Gives a slot back: to the longest waiter, or to the pool.
    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.inUse -= 1
                return nil
            }
            // The slot passes straight to the waiter: `inUse` stays.
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }

    /// Refuses every later `acquire` and wakes the waiters with `CancellationError` (the source
    /// was stopped: a reload replaced it).
    func stop() {
        let waiters = state.withLock { state in
            state.stopped = true
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(throwing: CancellationError()) }
    }

    /// Calls in flight now (tests, logs).
    var inUse: Int { state.withLock { $0.inUse } }
}
