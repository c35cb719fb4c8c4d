internal import CSystemShims
#if canImport(Glibc)
internal import Glibc
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
    /// Usually one; TLS can add a second when SSL_read needs to write while a write waits (HTTP/2 reads and writes at once).
    private var writeWaiters: [UnsafeContinuation<Void, any Error>] = []
    private var readDeadline: UInt64 = 0
    private var writeDeadline: UInt64 = 0
    private(set) var isClosed = false
    private var pendingReadInterrupt: IOError?

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
            if !writeWaiters.isEmpty {
                resumeWriters(with: nil)
            } else {
                writeReady = true
            }
        }
        if readWaiter == nil && writeWaiters.isEmpty { loop.untrack(self) }
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
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            // The task can hop (an executor switch after a continuation was resumed off the loop)
            // between the check above and this closure; readiness reported meanwhile was latched
            // and epoll, being edge-triggered, will not report it again.
            if isClosed {
                continuation.resume(throwing: IOError.closed)
            } else if let interrupt = pendingReadInterrupt {
                pendingReadInterrupt = nil
                continuation.resume(throwing: interrupt)
            } else if readReady {
                readReady = false
                continuation.resume()
            } else {
                readWaiter = continuation
            }
        }
    }

    /// Suspends until the socket may be writable again (call only after EAGAIN).
    func waitWritable(deadline: UInt64) async throws {
        if isClosed { throw IOError.closed }
        if deadline != 0, Monotonic.now >= deadline { throw IOError.timeout }
        if writeReady {
            writeReady = false
            return
        }
        writeDeadline = writeWaiters.isEmpty ? deadline : min(writeDeadline, deadline)
        loop.track(self)
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            // As in waitReadable: readiness may have been latched while the task hopped.
            if isClosed {
                continuation.resume(throwing: IOError.closed)
            } else if writeReady {
                writeReady = false
                continuation.resume()
            } else {
                writeWaiters.append(continuation)
            }
        }
    }

    var isWaitingToRead: Bool { readWaiter != nil }

    func expire(now: UInt64) {
        if let waiter = readWaiter, readDeadline != 0, now >= readDeadline {
            readWaiter = nil
            waiter.resume(throwing: IOError.timeout)
        }
        if !writeWaiters.isEmpty, writeDeadline != 0, now >= writeDeadline { resumeWriters(with: .timeout) }
        if readWaiter == nil && writeWaiters.isEmpty { loop.untrack(self) }
    }

    /// Ends any wait with `error` (drain, shutdown).
    func interrupt(_ error: IOError) {
        if let waiter = readWaiter {
            readWaiter = nil
            waiter.resume(throwing: error)
        }
        resumeWriters(with: error)
        loop.untrack(self)
    }

    private func resumeWriters(with error: IOError?) {
        let waiters = writeWaiters
        writeWaiters = []
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    /// Ends only a pending read wait with `error`; a write in progress goes on (HTTP/2 stops its
    /// reader while its writer still flushes the last frames).
    func interruptRead(_ error: IOError) {
        guard let waiter = readWaiter else {
            // The reader is between waits: it gets the error on its next one.
            pendingReadInterrupt = error
            return
        }
        readWaiter = nil
        waiter.resume(throwing: error)
        if writeWaiters.isEmpty { loop.untrack(self) }
    }

    /// Sends FIN: the peer sees the end of what was written, and reading goes on.
    func shutdownWrite() {
        if !isClosed { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Reads and drops whatever the peer still sends until it closes or `deadline` passes.
    /// Closing with unread input makes the kernel send RST, which can destroy the peer's copy of
    /// the last bytes written; a short linger after FIN avoids that (nginx's lingering_close).
    func linger(until deadline: UInt64) async {
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        while !isClosed {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n == 0 { return }
            switch errno {
            case EINTR: continue
            case EAGAIN: do { try await waitReadable(deadline: deadline) } catch { return }
            default: return
            }
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(fd, id: registration)
        Glibc.close(fd)
        interrupt(.closed)
    }

    // MARK: Plain I/O

    /// Waits until the socket has bytes to read (or the peer's end), without reading them.
    func awaitInput(deadline: UInt64) async throws {
        while true {
            if isClosed { throw IOError.closed }
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, Int32(MSG_PEEK))
            if n >= 0 { return }
            switch errno {
            case EAGAIN: try await waitReadable(deadline: deadline)
            case EINTR: continue
            case ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("recv")
            }
        }
    }

    /// Reads into `buffer`'s free space; 0 means the peer closed.
    func read(into buffer: ByteBuffer, deadline: UInt64) async throws -> Int {
        if buffer.writableBytes < 4096 { buffer.reserveWritable(16 * 1024) }
        while true {
            // Never a system call on a closed descriptor: its number may belong to another by now.
            if isClosed { throw IOError.closed }
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
            if isClosed { throw IOError.closed }
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
    static let sendfileChunk: off_t = 2 << 20

    func sendfile(_ file: OpenFile, offset: Int64, length: Int64, deadline: () -> UInt64) async throws {
        var position = off_t(offset)
        let end = off_t(offset + length)
        while position < end {
            if isClosed { throw IOError.closed }
            // At most 2 MiB per call, then a turn for the loop's other connections: one call for a
            // whole large file kept the loop in the kernel for as long as the client kept reading.
            let n = csys_sendfile(fd, file.descriptor, &position, Int(min(end - position, Self.sendfileChunk)))
            if n > 0 {
                if position < end { await Task.yield() }
                continue
            }
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
