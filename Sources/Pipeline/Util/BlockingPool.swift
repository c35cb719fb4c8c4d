import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs CPU-heavy work (password hashing) off the event loops, which must never block: a few
/// serial queues, one per core, fed round-robin. The backlog is capped so a flood of wrong
/// passwords queues no more than `maxQueued` jobs; beyond that callers get `Busy` at once.
public final class BlockingPool: Sendable {
    /// Thrown when the backlog is full.
    public struct Busy: Error, CustomStringConvertible {
        public var description: String { "too many slow jobs queued" }
    }

    /// One pool per process: hashing cost is a machine resource, not a per-stack one.
    public static let shared = BlockingPool(threads: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))), maxQueued: 256)

    private let queues: [DispatchQueue]
    private let next = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    public let maxQueued: Int

    public init(threads: Int, maxQueued: Int) {
        queues = (0..<max(1, threads)).map { DispatchQueue(label: "gateway.blocking.\($0)") }
        self.maxQueued = maxQueued
    }

    /// Runs `work` on a pool thread and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        guard pending.wrappingAdd(1, ordering: .relaxed).newValue <= maxQueued else {
            pending.wrappingSubtract(1, ordering: .relaxed)
            throw Busy()
        }
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        let queue = queues[abs(index % queues.count)]
        return await withCheckedContinuation { continuation in
            queue.async {
                let result = work()
                self.pending.wrappingSubtract(1, ordering: .relaxed)
                continuation.resume(returning: result)
            }
        }
    }
}
