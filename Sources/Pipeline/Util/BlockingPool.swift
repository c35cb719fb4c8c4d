import Dispatch
import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// The one place where work that blocks runs, off the event loops, which must never block:
/// password hashing, folder scans, whole-file hashes, spools and fsync. Jobs wait in one queue, in
/// order, and at most `threads` run at a time (one per core), so a long job (an fsync) holds one
/// worker while the others keep taking the next job. The backlog is capped: a flood (of wrong
/// passwords, say) queues no more than `maxQueued` jobs; beyond that callers get `Busy` at once,
/// which a request sees as 503.
public final class BlockingPool: Sendable {
    /// Thrown when the backlog is full.
    public struct Busy: Error, CustomStringConvertible {
        public var description: String { "too many slow jobs queued" }
    }

    /// One pool per process: the cores and the disk are machine resources, not per-stack ones.
    public static let shared = BlockingPool(threads: max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))), maxQueued: 256)

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        /// Jobs queued or running.
        var pending = 0
        /// Workers draining the queue.
        var workers = 0
    }

    private let state = Mutex(State())
    public let threads: Int
    public let maxQueued: Int

    public init(threads: Int, maxQueued: Int) {
        self.threads = max(1, threads)
        self.maxQueued = maxQueued
    }

    /// Runs `work` on a pool thread and returns its result (or throws its error).
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: @Sendable () -> Void = { continuation.resume(with: Result { try work() }) }
            let startWorker = state.withLock { state -> Bool? in
                guard state.pending < maxQueued else { return nil }
                state.pending += 1
                state.jobs.append(job)
                guard state.workers < threads else { return false }
                state.workers += 1
                return true
            }
            switch startWorker {
            case nil: continuation.resume(throwing: Busy())
            case true?: DispatchQueue.global().async { self.drain() }
            case false?: break
            }
        }
    }

    /// Jobs queued or running now.
    public var pending: Int { state.withLock { $0.pending } }

    /// A worker: runs the oldest job until none is left.
    private func drain() {
        while let job = take() {
            job()
            state.withLock { $0.pending -= 1 }
        }
    }

    private func take() -> (@Sendable () -> Void)? {
        state.withLock { state in
            guard state.head < state.jobs.count else {
                state.workers -= 1
                state.jobs.removeAll(keepingCapacity: true)
                state.head = 0
                return nil
            }
            let job = state.jobs[state.head]
            state.head += 1
            if state.head > 64, state.head * 2 > state.jobs.count {
                state.jobs.removeFirst(state.head)
                state.head = 0
            }
            return job
        }
    }
}
