@testable import Middlewares
import Synchronization
import Testing

@Suite("GitHub call slots: a bounded number of calls in flight")
struct GitHubCallSlotsTests {
    /// The most callers inside at once.
    final class Peak: Sendable {
        private let state = Mutex((now: 0, peak: 0))
        func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var peak: Int { state.withLock { $0.peak } }
    }

    @Test("30 callers with 4 slots: never more than 4 inside, every one served, every slot returned")
    func bounded() async throws {
        let slots = GitHubCallSlots(limit: 4)
        let peak = Peak()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<30 {
                group.addTask {
                    try await slots.withSlot {
                        peak.enter()
                        try await Task.sleep(for: .milliseconds(10))
                        peak.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.peak <= 4 && peak.peak >= 2)
        #expect(slots.inUse == 0)
    }

    @Test("a waiter that is cancelled takes no slot, and the slot it would have had goes to the next")
    func cancelledWaiter() async throws {
        let slots = GitHubCallSlots(limit: 1)
        try await slots.acquire()
        let waiter = Task { try await slots.acquire() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        slots.release()
        #expect(slots.inUse == 0)
        try await slots.withSlot { #expect(slots.inUse == 1) }
        #expect(slots.inUse == 0)
    }
}
