/// Where a pooled connection goes: scheme, host and port (one pool per client per loop).
struct PoolKey: Hashable, Sendable {
    let scheme: String
    let host: String
    let port: Int
}

/// Idle upstream connections of one client on one loop, with a limit per origin and an idle
/// timeout. Loop-confined: the loop's sweep closes connections idle for too long.
final class ConnectionPool: Expiring, @unchecked Sendable {
    // Loop-confined; only its loop touches it (closures that capture it run via loop.execute).
    unowned let loop: EventLoop
    let clientID: UInt64
    private let limit: Int
    private let idleTimeout: UInt64
    private var idle: [PoolKey: [ClientConnection]] = [:]
    private var open: [PoolKey: Int] = [:]
    /// Requests waiting for a slot: resumed with true when one frees, false when their deadline
    /// (monotonic ms) passed first; the sweep checks deadlines while anyone waits.
    private var waiters: [PoolKey: [(continuation: UnsafeContinuation<Bool, Never>, deadline: UInt64)]] = [:]

    init(loop: EventLoop, clientID: UInt64, limit: Int, idleTimeout: Duration) {
        self.loop = loop
        self.clientID = clientID
        self.limit = limit
        self.idleTimeout = UInt64(idleTimeout.seconds * 1000)
    }

    /// An idle connection that is still open, or nil after reserving a slot for a new one.
    /// Waits while the origin already has `limit` connections in use, for at most `timeout`
    /// (then `ClientError.timeout`: slots held by long downloads must not hold a request forever).
    func checkout(_ key: PoolKey, timeout: Duration) async throws -> ClientConnection? {
        let deadline = Monotonic.after(timeout)
        while true {
            while var list = idle[key], let connection = list.popLast() {
                idle[key] = list
                if connection.isStillOpen { return connection }
                connection.close()
                open[key, default: 1] -= 1
            }
            if open[key, default: 0] < limit {
                open[key, default: 0] += 1
                return nil
            }
            let woken = await withUnsafeContinuation { continuation in
                waiters[key, default: []].append((continuation, deadline))
                loop.track(self)
            }
            if !woken { throw ClientError.timeout(phase: "waiting for a free connection") }
        }
    }

    /// Gives back a slot reserved with `checkout` whose connection could not be made.
    func cancelReservation(_ key: PoolKey) {
        open[key, default: 1] -= 1
        wakeOne(key)
    }

    /// Returns a connection after its response: kept when reusable, otherwise closed.
    func release(_ connection: ClientConnection) {
        let key = connection.key
        if connection.isReusable, !connection.transport.io.isClosed, connection.buffer.readableBytes == 0 {
            connection.idleSince = Monotonic.now
            connection.buffer.shrink(to: 16 * 1024)
            idle[key, default: []].append(connection)
            loop.track(self)
        } else {
            connection.close()
            open[key, default: 1] -= 1
        }
        wakeOne(key)
    }

    private func wakeOne(_ key: PoolKey) {
        guard var list = waiters[key], !list.isEmpty else { return }
        let waiter = list.removeFirst()
        waiters[key] = list.isEmpty ? nil : list
        waiter.continuation.resume(returning: true)
    }

    func expire(now: UInt64) {
        for (key, list) in waiters {
            let overdue = list.filter { now >= $0.deadline }
            guard !overdue.isEmpty else { continue }
            let waiting = list.filter { now < $0.deadline }
            waiters[key] = waiting.isEmpty ? nil : waiting
            for waiter in overdue { waiter.continuation.resume(returning: false) }
        }
        var remaining = 0
        for (key, list) in idle {
            var kept: [ClientConnection] = []
            for connection in list {
                if now &- connection.idleSince >= idleTimeout || !connection.isStillOpen {
                    connection.close()
                    open[key, default: 1] -= 1
                    wakeOne(key)
                } else {
                    kept.append(connection)
                }
            }
            idle[key] = kept.isEmpty ? nil : kept
            remaining += kept.count
        }
        if remaining == 0, waiters.isEmpty {
            loop.untrack(self)
            // Nothing idle, nothing in use, nobody waiting: forget the pool, so the pools of clients
            // freed by a reload do not pile up on the loop.
            if open.values.allSatisfy({ $0 == 0 }), waiters.isEmpty, loop.clientPools[clientID] === self {
                loop.clientPools[clientID] = nil
            }
        }
    }
}
