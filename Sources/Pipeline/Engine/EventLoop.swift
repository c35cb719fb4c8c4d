internal import CSystemShims
import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// Something on a loop that wants epoll readiness events.
protocol Selectable: AnyObject {
    func ready(_ events: UInt32)
}

/// Something on a loop with a deadline that the loop's sweep checks once per tick interval.
protocol Expiring: AnyObject {
    /// Called on the loop when the sweep runs; `now` is monotonic milliseconds.
    func expire(now: UInt64)
}

/// One thread running epoll, which is also the Swift executor for the tasks of the connections it
/// owns: a continuation resumed by a readiness event runs on the same thread with no hop
/// (proxy.md §3.4). Everything a connection does happens on its loop; that is the invariant that
/// makes the `@unchecked Sendable` engine classes sound.
public final class EventLoop: SerialExecutor, TaskExecutor, @unchecked Sendable {
    public let index: Int
    private let epfd: Int32
    private let wakeFD: Int32
    private let incoming = Mutex<[UnownedJob]>([])
    private let incomingClosures = Mutex<[@Sendable () -> Void]>([])
    private let sleeping = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    private var thread: pthread_t?
    // Loop-confined state.
    private var running: [UnownedJob] = []
    private var registrations: [UInt64: any Selectable] = [:]
    private var nextRegistration: UInt64 = 1
    private var expiring: [ObjectIdentifier: any Expiring] = [:]
    private var lastSweep: UInt64 = 0
    private var cachedDateSecond: Int64 = 0
    private var cachedDate: [UInt8] = []
    /// Read buffers idle connections on this loop gave back (HTTP/1.1 keep-alive).
    let bufferPool = BufferPool()
    /// Connections this loop owns, for draining and counting.
    var connections: [ObjectIdentifier: any DrainableConnection] = [:]
    /// This loop's registrations of the listening sockets, by descriptor.
    var acceptors: [Int32: Acceptor] = [:]
    /// Upstream connection pools, one per HTTP client (by `HTTPClient.id`); a pool that has nothing
    /// open removes itself and is made again on the next request.
    var clientPools: [UInt64: ConnectionPool] = [:]

    static let sweepInterval: UInt64 = 250

    init(index: Int) throws {
        self.index = index
        epfd = csys_epoll_create()
        guard epfd >= 0 else { throw SystemError.errno("epoll_create1") }
        wakeFD = csys_eventfd()
        guard wakeFD >= 0 else { throw SystemError.errno("eventfd") }
        guard csys_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, CSYS_EPOLLIN, 0) == 0 else { throw SystemError.errno("epoll_ctl") }
    }

    deinit {
        close(epfd)
        close(wakeFD)
    }

    /// Starts the loop's thread.
    func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
            loop.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed")
        thread = tid
    }

    /// Asks the loop to finish its current tick and exit its thread.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    func join() {
        if let thread { pthread_join(thread, nil) }
    }

    /// The loop whose thread runs the caller, if any. Work started for a request (a cache fill) can
    /// prefer it, so it stays beside the connections it serves: `Task(executorPreference: EventLoop.current)`.
    public static var current: EventLoop? { CurrentLoop.loop }

    /// Whether the caller runs on this loop's thread.
    public var inLoop: Bool {
        guard let thread else { return false }
        return pthread_equal(pthread_self(), thread) != 0
    }

    // MARK: Executor

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        incoming.withLock { $0.append(unowned) }
        wakeIfSleeping()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool { other === self }

    public func checkIsolated() {
        precondition(inLoop, "not on event loop \(index)")
    }

    /// Runs `body` on the loop thread soon.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        incomingClosures.withLock { $0.append(body) }
        wakeIfSleeping()
    }

    private func wakeIfSleeping() {
        if sleeping.exchange(false, ordering: .acquiringAndReleasing) { wake() }
    }

    private func wake() { _ = csys_eventfd_signal(wakeFD) }

    // MARK: Registration (loop thread only)

    /// Adds `fd` to epoll, edge-triggered for reads and writes, and routes its events to `target`.
    func register(_ fd: Int32, _ target: any Selectable, listener: Bool = false) throws -> UInt64 {
        let id = nextRegistration
        nextRegistration += 1
        // Listening sockets are shared by every loop: level-triggered with EPOLLEXCLUSIVE so one loop wakes.
        let events: UInt32 = listener
            ? CSYS_EPOLLIN | UInt32(1 << 28)
            : CSYS_EPOLLIN | CSYS_EPOLLOUT | CSYS_EPOLLRDHUP | UInt32(1 << 31)
        guard csys_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, id) == 0 else { throw SystemError.errno("epoll_ctl") }
        registrations[id] = target
        return id
    }

    func deregister(_ fd: Int32, id: UInt64) {
        _ = csys_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
        registrations[id] = nil
    }

    func track(_ item: any Expiring) { expiring[ObjectIdentifier(item)] = item }
    func untrack(_ item: any Expiring) { expiring[ObjectIdentifier(item)] = nil }

    /// The current `Date` header value, formatted once per second.
    var dateHeader: [UInt8] {
        let now = Int64(time(nil))
        if now != cachedDateSecond {
            cachedDateSecond = now
            cachedDate = Array(HTTPDate.format(now).utf8)
        }
        return cachedDate
    }

    // MARK: Run

    private func run() {
        CurrentLoop.set(self)
        var events = [UInt32](repeating: 0, count: 256)
        var data = [UInt64](repeating: 0, count: 256)
        while !stopRequested.load(ordering: .acquiring) {
            runQueued()
            sleeping.store(true, ordering: .releasing)
            let pending = incoming.withLock { !$0.isEmpty } || incomingClosures.withLock { !$0.isEmpty }
            let timeout: Int32 = pending ? 0 : (expiring.isEmpty ? 1000 : Int32(Self.sweepInterval))
            if pending { sleeping.store(false, ordering: .releasing) }
            let count = csys_epoll_wait(epfd, &events, &data, 256, timeout)
            sleeping.store(false, ordering: .releasing)
            if count > 0 {
                for i in 0..<Int(count) {
                    if data[i] == 0 {
                        _ = csys_eventfd_drain(wakeFD)
                    } else if let target = registrations[data[i]] {
                        target.ready(events[i])
                    }
                }
            }
            let now = Monotonic.now
            if now &- lastSweep >= Self.sweepInterval {
                lastSweep = now
                for item in Array(expiring.values) { item.expire(now: now) }
            }
        }
        runQueued()
    }

    private func runQueued() {
        for _ in 0..<16 {
            let closures = incomingClosures.withLock { queue -> [@Sendable () -> Void] in
                guard !queue.isEmpty else { return [] }
                defer { queue.removeAll() }
                return queue
            }
            for closure in closures { closure() }
            incoming.withLock { swap(&$0, &running) }
            if running.isEmpty && closures.isEmpty { return }
            // Jobs run as the task executor with generic isolation: isolating them to the loop as a
            // serial executor made every call into a nonisolated async function re-enqueue the task.
            // (So no actor may use a loop as its serial executor; none does.)
            let taskExecutor = asUnownedTaskExecutor()
            for job in running { job.runSynchronously(on: taskExecutor) }
            running.removeAll(keepingCapacity: true)
        }
    }
}

/// Which loop, if any, the current thread runs.
enum CurrentLoop {
    nonisolated(unsafe) private static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static func set(_ loop: EventLoop) {
        pthread_setspecific(key, Unmanaged.passUnretained(loop).toOpaque())
    }

    static var loop: EventLoop? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }
}
