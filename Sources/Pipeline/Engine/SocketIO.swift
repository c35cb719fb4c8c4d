import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

/// Why an I/O wait ended without readiness.
public enum IOError: Error, CustomStringConvertible, Equatable {
    case timeout
    case closed
    case draining
    case connectionReset

    public var description: String {
        switch self {
        case .timeout: "timed out"
        case .closed: "connection closed"
        case .draining: "server is draining"
        case .connectionReset: "connection reset by peer"
        }
    }
}

/// A non-blocking socket registered edge-triggered with one loop. Waiting is `await`: the
/// continuation is parked here and resumed by the loop when epoll reports readiness, or by the
/// loop's sweep when its deadline passes. Only ever touched on its loop.
final class SocketIO: Selectable, Expiring {
    let fd: Int32
    unowned let loop: EventLoop
    private var registration: UInt64 = 0
    private var readReady = false
    private var writeReady = false
    private var readWaiter: UnsafeContinuation<Void, any Error>?
    private var writeWaiter: UnsafeContinuation<Void, any Error>?
    private var readDeadline: UInt64 = 0
    private var writeDeadline: UInt64 = 0
    private(set) var isClosed = false

    init(fd: Int32, loop: EventLoop) throws {
        self.fd = fd
        self.loop = loop
        registration = try loop.register(fd, self)
    }

    func ready(_ events: UInt32) {
        let failed = events & (CSYS_EPOLLERR | CSYS_EPOLLHUP) != 0
        if events & (CSYS_EPOLLIN | CSYS_EPOLLRDHUP) != 0 || failed {
            if let waiter = readWaiter {
                readWaiter = nil
                waiter.resume()
            } else {
                readReady = true
            }
        }
        if events & CSYS_EPOLLOUT != 0 || failed {
            if let waiter = writeWaiter {
                writeWaiter = nil
                waiter.resume()
            } else {
                writeReady = true
            }
        }
        if readWaiter == nil && writeWaiter == nil { loop.untrack(self) }
    }

    /// Suspends until the socket may be readable again (call only after EAGAIN).
    func waitReadable(deadline: UInt64) async throws {
        if isClosed { throw IOError.closed }
        // The sweep only sees sockets that are waiting: one whose peer sends a byte just before
        // each sweep would never be caught there, so a passed deadline also fails here.
        if deadline != 0, Monotonic.now >= deadline { throw IOError.timeout }
        if readReady {
            readReady = false
            return
        }
        readDeadline = deadline
        loop.track(self)
        try await withUnsafeThrowingContinuation { readWaiter = $0 }
    }

    /// Suspends until the socket may be writable again (call only after EAGAIN).
    func waitWritable(deadline: UInt64) async throws {
        if isClosed { throw IOError.closed }
        if deadline != 0, Monotonic.now >= deadline { throw IOError.timeout }
        if writeReady {
            writeReady = false
            return
        }
        writeDeadline = deadline
        loop.track(self)
        try await withUnsafeThrowingContinuation { writeWaiter = $0 }
    }

    var isWaitingToRead: Bool { readWaiter != nil }

    func expire(now: UInt64) {
        if let waiter = readWaiter, readDeadline != 0, now >= readDeadline {
            readWaiter = nil
            waiter.resume(throwing: IOError.timeout)
        }
        if let waiter = writeWaiter, writeDeadline != 0, now >= writeDeadline {
            writeWaiter = nil
            waiter.resume(throwing: IOError.timeout)
        }
        if readWaiter == nil && writeWaiter == nil { loop.untrack(self) }
    }

    /// Ends any wait with `error` (drain, shutdown).
    func interrupt(_ error: IOError) {
        if let waiter = readWaiter {
            readWaiter = nil
            waiter.resume(throwing: error)
        }
        if let waiter = writeWaiter {
            writeWaiter = nil
            waiter.resume(throwing: error)
        }
        loop.untrack(self)
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(fd, id: registration)
        Glibc.close(fd)
        interrupt(.closed)
    }

    // MARK: Plain I/O

    /// Reads into `buffer`'s free space; 0 means the peer closed.
    func read(into buffer: ByteBuffer, deadline: UInt64) async throws -> Int {
        if buffer.writableBytes < 4096 { buffer.reserveWritable(16 * 1024) }
        while true {
            let space = buffer.writable
            let n = recv(fd, space.baseAddress, space.count, 0)
            if n > 0 {
                buffer.moveWriterIndex(by: n)
                return n
            }
            if n == 0 { return 0 }
            switch errno {
            case EAGAIN: try await waitReadable(deadline: deadline)
            case EINTR: continue
            case ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("recv")
            }
        }
    }

    /// Writes all of `bytes` (and `more`, gathered into the same segment), waiting while the peer is slow.
    func write(_ bytes: [UInt8], _ more: [UInt8] = [], deadline: UInt64) async throws {
        var first = 0
        var second = 0
        while first < bytes.count || second < more.count {
            let n: Int = bytes.withUnsafeBytes { a in
                more.withUnsafeBytes { b in
                    csys_writev2(fd, a.baseAddress! + first, a.count - first, b.count > 0 ? b.baseAddress! + second : nil, b.count - second)
                }
            }
            if n >= 0 {
                let fromFirst = min(n, bytes.count - first)
                first += fromFirst
                second += n - fromFirst
                continue
            }
            switch errno {
            case EAGAIN: try await waitWritable(deadline: deadline)
            case EINTR: continue
            case EPIPE, ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("sendmsg")
            }
        }
    }

    /// Sends a file region with sendfile(2), waiting while the peer is slow.
    func sendfile(_ file: OpenFile, offset: Int64, length: Int64, deadline: () -> UInt64) async throws {
        var position = off_t(offset)
        let end = off_t(offset + length)
        while position < end {
            let n = csys_sendfile(fd, file.descriptor, &position, Int(min(end - position, 1 << 30)))
            if n > 0 { continue }
            if n == 0 { throw HTTPError(.internalServerError, "file shrank while it was sent") }
            switch errno {
            case EAGAIN: try await waitWritable(deadline: deadline())
            case EINTR: continue
            case EPIPE, ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("sendfile")
            }
        }
    }
}
