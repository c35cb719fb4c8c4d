internal import CSystemShims
import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// How upstream bodies reached clients, for `/metrics`: spliced (socket → pipe → socket in the
/// kernel) or copied through user space.
final class RelayCounters: Sendable {
    static let shared = RelayCounters()
    let splices = Atomic<Int>(0)
    let splicedBytes = Atomic<Int>(0)
    let copies = Atomic<Int>(0)
    let copiedBytes = Atomic<Int>(0)

    func render() -> String {
        let splices = splices.load(ordering: .relaxed), copies = copies.load(ordering: .relaxed)
        let splicedBytes = splicedBytes.load(ordering: .relaxed), copiedBytes = copiedBytes.load(ordering: .relaxed)
        return """
            # HELP gateway_relayed_bodies_total Upstream response bodies relayed to clients, by path: splice (kernel only) or copy.
            # TYPE gateway_relayed_bodies_total counter
            gateway_relayed_bodies_total{path="splice"} \(splices)
            gateway_relayed_bodies_total{path="copy"} \(copies)
            # HELP gateway_relayed_bytes_total Upstream response body bytes relayed to clients, by path.
            # TYPE gateway_relayed_bytes_total counter
            gateway_relayed_bytes_total{path="splice"} \(splicedBytes)
            gateway_relayed_bytes_total{path="copy"} \(copiedBytes)

            """
    }
}

extension ClientBodyReader {
    /// Bodies below this go by the copy path: a pipe costs three system calls to set up and close.
    static let spliceMinimum = 64 * 1024
    /// The pipe's capacity asked for (Linux's default `pipe-max-size` allows it unprivileged).
    static let splicePipeSize: Int32 = 1 << 20
    /// Bytes spliced between turns for the loop's other connections (as sendfile's 2 MiB calls).
    static let spliceTurn = 2 << 20

    /// Moves the rest of this body into `target`'s socket with splice(2) when both ends are plain
    /// sockets on the same loop and the body has a Content-Length; false (nothing consumed) otherwise.
    /// Throws when either side fails: the upstream connection is then closed, and the client's
    /// response aborted by its writer (it never ends cleanly short of its Content-Length).
    func splice(to target: HTTP1ResponseWriter) async throws -> Bool {
        let loop = connection.loop
        guard target.loop === loop else { return false }
        if loop.inLoop { return try await spliceOnLoop(target) }
        return try await withTaskExecutorPreference(loop) { try await self.spliceOnLoop(target) }
    }

    private func spliceOnLoop(_ target: HTTP1ResponseWriter) async throws -> Bool {
        guard !finished, decoder == nil, !untilClose, remaining >= Self.spliceMinimum,
              connection.transport is PlainTransport, let client = target.spliceSocket(for: remaining) else { return false }
        var fds: [Int32] = [-1, -1]
        let capacity = Int(csys_relay_pipe(&fds, Self.splicePipeSize))
        guard capacity > 0 else { return false }
        defer {
            Glibc.close(fds[0])
            Glibc.close(fds[1])
        }
        RelayCounters.shared.splices.add(1, ordering: .relaxed)
        do {
            // Body bytes that arrived with the head are in the connection's buffer already.
            let buffered = connection.buffer.read(upTo: remaining)
            remaining -= buffered.count
            RelayCounters.shared.splicedBytes.add(buffered.count, ordering: .relaxed)
            if buffered.isEmpty { try await target.flushHead() } else { try await target.write(buffered) }
            try await pump(from: connection.transport.io, through: (fds[0], fds[1]), capacity: capacity, to: client, target)
            finish(clean: true)
            return true
        } catch {
            finish(clean: false)
            throw error
        }
    }

    private func pump(from upstream: SocketIO, through pipe: (read: Int32, write: Int32), capacity: Int,
                      to client: SocketIO, _ target: HTTP1ResponseWriter) async throws {
        var inPipe = 0
        var sinceTurn = 0
        let sendIdle = target.sendIdle
        while remaining > 0 || inPipe > 0 {
            if remaining > 0, inPipe < capacity {
                // Never a system call on a closed descriptor: its number may belong to another by now.
                if upstream.isClosed { throw ClientError.closed }
                let n = csys_splice(upstream.fd, pipe.write, min(remaining, capacity - inPipe), 0)
                if n > 0 {
                    inPipe += n
                    remaining -= n
                } else if n == 0 {
                    throw ClientError.closed   // the upstream ended before its Content-Length
                } else {
                    switch errno {
                    case EINTR: continue
                    case EAGAIN:
                        // Nothing to read (or, with bytes in the pipe, a full pipe: drain it first).
                        if inPipe == 0 {
                            do {
                                try await upstream.waitReadable(deadline: Monotonic.after(idleTimeout))
                            } catch IOError.timeout {
                                throw ClientError.timeout(phase: "idle")
                            } catch is IOError {
                                throw ClientError.closed
                            }
                            continue
                        }
                    case ECONNRESET: throw ClientError.closed
                    default: throw SystemError.errno("splice")
                    }
                }
            }
            guard inPipe > 0 else { continue }
            if client.isClosed { throw IOError.closed }
            let n = csys_splice(pipe.read, client.fd, inPipe, remaining > 0 ? 1 : 0)
            if n > 0 {
                inPipe -= n
                target.didSplice(n)
                RelayCounters.shared.splicedBytes.add(n, ordering: .relaxed)
                sinceTurn += n
                if sinceTurn >= Self.spliceTurn {
                    sinceTurn = 0
                    await Task.yield()
                }
                continue
            }
            switch errno {
            case EINTR: continue
            // The client is slow: nothing more is read from the upstream until it takes what it has.
            case EAGAIN: try await client.waitWritable(deadline: Monotonic.after(sendIdle))
            case EPIPE, ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("splice")
            }
        }
    }
}

extension ClientBodyReader {
    /// Moves the rest of this body into `target`'s file with splice(2) (socket → pipe → file) when
    /// the upstream is a plain socket and the body has a Content-Length that fits the file; false
    /// (nothing consumed) otherwise. Throws when the upstream fails or ends early: nothing is
    /// published past the last byte that arrived, and the caller's fill fails.
    func splice(toFile target: any FileSpliceTarget) async throws -> Bool {
        let loop = connection.loop
        if loop.inLoop { return try await spliceToFileOnLoop(target) }
        return try await withTaskExecutorPreference(loop) { try await self.spliceToFileOnLoop(target) }
    }

    private func spliceToFileOnLoop(_ target: any FileSpliceTarget) async throws -> Bool {
        guard !finished, decoder == nil, !untilClose, remaining >= Self.spliceMinimum,
              connection.transport is PlainTransport, target.spliceFile(for: remaining) != nil else { return false }
        var fds: [Int32] = [-1, -1]
        let capacity = Int(csys_relay_pipe(&fds, Self.splicePipeSize))
        guard capacity > 0 else { return false }
        defer {
            Glibc.close(fds[0])
            Glibc.close(fds[1])
        }
        RelayCounters.shared.splices.add(1, ordering: .relaxed)
        do {
            let buffered = connection.buffer.read(upTo: remaining)
            remaining -= buffered.count
            RelayCounters.shared.splicedBytes.add(buffered.count, ordering: .relaxed)
            if !buffered.isEmpty { try await target.write(buffered) }
            guard let (file, offset) = target.spliceFile(for: remaining) else { throw ClientError.badResponse("fill file went away") }
            let upstream = connection.transport.io
            var position = off_t(offset)
            var inPipe = 0
            var sinceTurn = 0
            while remaining > 0 || inPipe > 0 {
                if remaining > 0, inPipe < capacity {
                    if upstream.isClosed { throw ClientError.closed }
                    let n = csys_splice(upstream.fd, fds[1], min(remaining, capacity - inPipe), 0)
                    if n > 0 {
                        inPipe += n
                        remaining -= n
                    } else if n == 0 {
                        throw ClientError.closed   // the upstream ended before its Content-Length
                    } else {
                        switch errno {
                        case EINTR: continue
                        case EAGAIN:
                            if inPipe == 0 {
                                do {
                                    try await upstream.waitReadable(deadline: Monotonic.after(idleTimeout))
                                } catch IOError.timeout {
                                    throw ClientError.timeout(phase: "idle")
                                } catch is IOError {
                                    throw ClientError.closed
                                }
                                continue
                            }
                        case ECONNRESET: throw ClientError.closed
                        default: throw SystemError.errno("splice")
                        }
                    }
                }
                guard inPipe > 0 else { continue }
                let n = csys_splice_to_file(fds[0], file.descriptor, &position, inPipe)
                if n > 0 {
                    inPipe -= n
                    target.didSpliceFile(n)
                    RelayCounters.shared.splicedBytes.add(n, ordering: .relaxed)
                    sinceTurn += n
                    if sinceTurn >= Self.spliceTurn {
                        sinceTurn = 0
                        await Task.yield()
                    }
                    continue
                }
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                // The file failed (a full disk): what is in the pipe goes through `write`, whose
                // owner keeps it another way, and the rest of the body takes the copy path.
                var rest = [UInt8](repeating: 0, count: inPipe)
                var got = 0
                while got < inPipe {
                    let r = rest.withUnsafeMutableBytes { Glibc.read(fds[0], $0.baseAddress! + got, inPipe - got) }
                    if r > 0 { got += r } else if r < 0, errno == EINTR { continue } else { throw ClientError.closed }
                }
                try await target.write(rest)
                return false
            }
            finish(clean: true)
            return true
        } catch {
            finish(clean: false)
            throw error
        }
    }
}
