internal import CSystemShims
import Dispatch
import Synchronization

/// Returns freed memory to the system after connections close. glibc keeps what a burst of
/// connections freed (buffers, TLS objects, task allocations) in its per-thread arenas, so RSS
/// stays at the burst's peak; `malloc_trim(0)` hands the free pages back (issue 16, item 3).
/// At most one trim every `interval`, off the event loops, and only when at least `threshold`
/// connections closed since the last one.
enum MemoryTrim {
    static let interval: DispatchTimeInterval = .seconds(2)
    static let threshold = 64

    private static let closed = Atomic<Int>(0)
    private static let scheduled = Atomic<Bool>(false)

    /// Sets a first timer while descriptors are plentiful. libdispatch opens its epoll and eventfd
    /// descriptors at the first timer of the process and traps when it cannot: the first trim,
    /// scheduled after a burst that used up every descriptor, crashed the gateway.
    static func prepare() {
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now()) {}
    }

    /// Called once per closed client connection.
    static func connectionClosed() {
        closed.wrappingAdd(1, ordering: .relaxed)
        guard scheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + interval) {
            scheduled.store(false, ordering: .releasing)
            if closed.load(ordering: .relaxed) >= threshold {
                closed.store(0, ordering: .relaxed)
                _ = csys_malloc_trim()
            }
        }
    }
}
