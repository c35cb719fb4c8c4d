import Pipeline
import Synchronization

/// Results of slow work by key (an `h1:` hash of a zip, a small download): done once even when
/// asked for concurrently, kept, and failures remembered with exponential backoff, so a key whose
/// work fails is tried again after `firstRetry`, then twice as long each time up to `maxRetry`,
/// never on every request that asks. A failure that says when to ask again (an `HTTPError` with
/// `Retry-After`: a spent rate limit) is tried again then instead, and repeated meanwhile with the
/// seconds left. At most `maxEntries` results are kept (the oldest go first).
///
/// ```swift
/// let sums = try await smallFiles.value(for: asset.id) { try await download(asset) }
/// if let h1 = hashes.peek(shasum, startingWith: { try await hash(zip) }) { ... }   // never waits
/// ```
///
/// It owns the work it starts: `stop()` cancels what is running and refuses new work (a reload
/// replaced the value that holds it). Work ended by cancellation is forgotten, not remembered as a
/// failure, so a cache that outlives the values its work used is not poisoned by their stop.
public final class OutcomeCache<Key: Hashable & Sendable, Value: Sendable>: Stoppable {
    private enum Slot {
        case value(Value)
        case running(Task<Value, any Error>, failures: Int)
        case failed(any Error, retryAt: ContinuousClock.Instant, failures: Int)
    }

    private struct State {
        var slots: [Key: Slot] = [:]
        /// Keys in the order their slots were made, for eviction.
        var order: [Key] = []
        var stopped = false
    }

    /// What `value(for:)` throws once the cache is stopped.
    public struct Stopped: Error, CustomStringConvertible {
        public var description: String { "stopped: the pipeline that owned this work was replaced" }
    }

    private let state = Mutex(State())
    let maxEntries: Int
    let firstRetry: Duration
    let maxRetry: Duration
    /// The time backoffs are measured in (a test's own clock).
    let now: @Sendable () -> ContinuousClock.Instant

    public init(maxEntries: Int, firstRetry: Duration = .seconds(30), maxRetry: Duration = .seconds(3600),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.maxEntries = max(1, maxEntries)
        self.firstRetry = firstRetry
        self.maxRetry = maxRetry
        self.now = now
    }

    /// The value for `key`, doing `work` for it unless it is known or running (then its run is
    /// awaited). Within a failure's backoff the remembered error is thrown without any work.
    public func value(for key: Key, work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        switch step(key, work) {
        case .known(let value): return value
        case .running(let task): return try await task.value
        case .backingOff(let error): throw error
        }
    }

    /// The value for `key` when it is known now; otherwise starts `work` in the background (unless
    /// it is running or backing off after a failure) and returns nil at once.
    public func peek(_ key: Key, startingWith work: @escaping @Sendable () async throws -> Value) -> Value? {
        if case .known(let value) = step(key, work) { return value }
        return nil
    }

    /// The value for `key` when it is known now, without starting anything.
    public func cached(_ key: Key) -> Value? {
        state.withLock { state in
            if case .value(let value)? = state.slots[key] { return value }
            return nil
        }
    }

    /// Whether a failure of `key` is remembered now.
    func remembersFailure(_ key: Key) -> Bool {
        state.withLock { state in
            if case .failed? = state.slots[key] { return true }
            return false
        }
    }

    /// How many results (values and remembered failures) are kept.
    public var count: Int { state.withLock { $0.slots.count } }

    /// Cancels the work running and refuses new work; values already known stay readable.
    public func stop() async {
        let running: [Task<Value, any Error>] = state.withLock { state in
            state.stopped = true
            return state.slots.values.compactMap { slot in
                if case .running(let task, _) = slot { return task }
                return nil
            }
        }
        // Not awaited: work that ignores cancellation must not hold up a reload or a drain.
        for task in running { task.cancel() }
    }

    /// Whether `stop()` was called.
    public var isStopped: Bool { state.withLock { $0.stopped } }

    private enum Step {
        case known(Value)
        case running(Task<Value, any Error>)
        case backingOff(any Error)
    }

    private func step(_ key: Key, _ work: @escaping @Sendable () async throws -> Value) -> Step {
        let now = self.now()
        return state.withLock { state in
            var failures = 0
            if state.stopped {
                if case .value(let value)? = state.slots[key] { return .known(value) }
                return .backingOff(Stopped())
            }
            switch state.slots[key] {
            case .value(let value)?:
                return .known(value)
            case .running(let task, _)?:
                return .running(task)
            case .failed(let error, let retryAt, _)? where now < retryAt:
                return .backingOff(Self.retryingAfter(error, left: retryAt - now))
            case .failed(_, _, let count)?:
                failures = count
            case nil:
                state.order.append(key)
            }
            // Detached: the work belongs to no one request, and outlives the one that started it.
            let task = Task.detached(executorPreference: EventLoop.current) { try await work() }
            state.slots[key] = .running(task, failures: failures)
            Task.detached(executorPreference: EventLoop.current) { [weak self] in
                let result = await task.result
                self?.record(key, result)
            }
            evict(&state)
            return .running(task)
        }
    }

    private func record(_ key: Key, _ result: Result<Value, any Error>) {
        state.withLock { state in
            guard case .running(_, let failures)? = state.slots[key] else { return }
            if case .failure(let error) = result, state.stopped || error is CancellationError {
                // Cut short, not failed: the next caller (if any) tries afresh.
                state.slots[key] = nil
                state.order.removeAll { $0 == key }
                return
            }
            switch result {
            case .success(let value):
                state.slots[key] = .value(value)
            case .failure(let error):
                if let seconds = Self.retryAfter(error) {
                    state.slots[key] = .failed(error, retryAt: now() + .seconds(seconds), failures: failures)
                    return
                }
                var wait = firstRetry
                for _ in 0..<min(failures, 20) where wait < maxRetry { wait = wait * 2 }
                state.slots[key] = .failed(error, retryAt: now() + min(wait, maxRetry), failures: failures + 1)
            }
        }
    }

    /// The seconds an `HTTPError`'s `Retry-After` names.
    private static func retryAfter(_ error: any Error) -> Int? {
        (error as? HTTPError)?.headers["Retry-After"].flatMap { Int($0.trimmingASCIIWhitespace()) }.map { max(1, $0) }
    }

    /// `error` with its `Retry-After` counting down to the retry.
    private static func retryingAfter(_ error: any Error, left: Duration) -> any Error {
        guard var error = error as? HTTPError, error.headers["Retry-After"] != nil else { return error }
        error.headers["Retry-After"] = String(max(1, Int(left.seconds.rounded(.up))))
        return error
    }

    /// Drops the oldest finished results once there are more than `maxEntries` (running work is kept).
    private func evict(_ state: inout State) {
        guard state.slots.count > maxEntries else { return }
        var kept: [Key] = []
        // A tenth at once, so a full cache does not scan its keys on every new one.
        var excess = state.slots.count - maxEntries + maxEntries / 10
        for key in state.order {
            if excess > 0, let slot = state.slots[key] {
                if case .running = slot {} else {
                    state.slots[key] = nil
                    excess -= 1
                    continue
                }
            }
            if state.slots[key] != nil { kept.append(key) }
        }
        state.order = kept
    }
}
