#if canImport(Glibc)
internal import Glibc
#endif

/// One HTTP/1.1 connection to an upstream origin, owned by one event loop (and confined to it).
final class ClientConnection: @unchecked Sendable {
    let key: PoolKey
    let transport: any Transport
    let buffer = ByteBuffer(capacity: 16 * 1024)
    var loop: EventLoop { transport.io.loop }
    /// Whether any byte of a response arrived on this connection for the current request.
    private(set) var receivedResponseBytes = false
    var isReusable = true
    var idleSince: UInt64 = 0

    private init(key: PoolKey, transport: any Transport) {
        self.key = key
        self.transport = transport
    }

    /// Resolves, connects (trying each address) and, for https, completes a verified TLS handshake.
    static func connect(_ key: PoolKey, tls: ClientTLSContext?, loop: EventLoop, timeout: Duration) async throws -> ClientConnection {
        let addresses = try await Resolver.shared.resolve(key.host, port: key.port, timeout: timeout)
        var lastError: any Error = ClientError.connect(host: key.host, reason: "no addresses")
        for address in addresses {
            let deadline = Monotonic.after(timeout)
            do {
                let io = try await open(address, loop: loop, deadline: deadline, host: key.host)
                var transport: any Transport = PlainTransport(io: io)
                if key.scheme == "https", let tls {
                    let ssl: OpaquePointer
                    do { ssl = try tls.makeSSL(host: key.host) } catch {
                        io.close()
                        throw error
                    }
                    let secure = TLSTransport(io: io, ssl: ssl, owner: tls, client: true)
                    transport = secure
                    do {
                        try await secure.handshake(deadline: deadline)
                    } catch IOError.timeout {
                        secure.close()
                        throw ClientError.timeout(phase: "TLS handshake")
                    } catch {
                        secure.close()
                        throw ClientError.tls(host: key.host, reason: "\(error)")
                    }
                }
                return ClientConnection(key: key, transport: transport)
            } catch let error as ClientError {
                lastError = error
                if case .tls = error { throw error }
            } catch {
                lastError = ClientError.connect(host: key.host, reason: "\(error)")
            }
        }
        throw lastError
    }

    private static func open(_ address: SocketAddress, loop: EventLoop, deadline: UInt64, host: String) async throws -> SocketIO {
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError.connect(host: host, reason: "\(SystemError.errno("socket"))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let io: SocketIO
        do {
            io = try SocketIO(fd: fd, loop: loop)
        } catch {
            Glibc.close(fd)
            throw error
        }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let reason = String(cString: strerror(errno))
                io.close()
                throw ClientError.connect(host: host, reason: reason)
            }
            do {
                try await io.waitWritable(deadline: deadline)
            } catch {
                io.close()
                throw error is IOError && (error as! IOError) == .timeout ? ClientError.timeout(phase: "connect") : error
            }
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
            guard code == 0 else {
                io.close()
                throw ClientError.connect(host: host, reason: String(cString: strerror(code)))
            }
        }
        return io
    }

    /// An idle pooled connection is usable when the server has not closed it (nothing to read, no EOF).
    var isStillOpen: Bool {
        guard !transport.io.isClosed, buffer.readableBytes == 0 else { return false }
        var byte: UInt8 = 0
        let n = recv(transport.io.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    /// Writes the request head and streams its body.
    func send(_ request: Request, to url: HTTPURL, idleTimeout: Duration) async throws {
        receivedResponseBytes = false
        var head = "\(request.method.rawValue) \(url.target) HTTP/1.1\r\nHost: \(url.authority)\r\n"
        for field in request.headers {
            let name = field.name
            if name.equalsIgnoringASCIICase("Host") || name.equalsIgnoringASCIICase("Content-Length")
                || name.equalsIgnoringASCIICase("Transfer-Encoding") || name.equalsIgnoringASCIICase("Connection") { continue }
            head += name + ": " + field.value.filter { $0 != "\r" && $0 != "\n" } + "\r\n"
        }
        var chunked = false
        if request.body.isEmpty {
            if request.method == .post || request.method == .put || request.method == .patch { head += "Content-Length: 0\r\n" }
        } else if let length = request.body.length {
            head += "Content-Length: \(length)\r\n"
        } else {
            chunked = true
            head += "Transfer-Encoding: chunked\r\n"
        }
        head += "\r\n"
        let deadline = { Monotonic.after(idleTimeout) }
        try await transport.write(Array(head.utf8), [], deadline: deadline())
        guard !request.body.isEmpty else { return }
        var sent = 0
        for try await chunk in request.body where !chunk.isEmpty {
            sent += chunk.count
            if chunked {
                try await transport.write(Array((String(chunk.count, radix: 16) + "\r\n").utf8), chunk + [0x0D, 0x0A], deadline: deadline())
            } else {
                try await transport.write(chunk, [], deadline: deadline())
            }
        }
        if chunked {
            try await transport.write(Array("0\r\n\r\n".utf8), [], deadline: deadline())
        } else if let length = request.body.length, sent != length {
            isReusable = false
            throw ClientError.badResponse("request body length differs from its Content-Length")
        }
    }

    /// Reads the response head (skipping 1xx interim responses) by the first-byte deadline.
    func readHead(for method: HTTPMethod, firstByte: Duration, maxHeadBytes: Int) async throws -> HTTP1ResponseHead {
        let parser = HTTP1ResponseParser(maxHeadBytes: maxHeadBytes)
        let deadline = Monotonic.after(firstByte)
        while true {
            if buffer.readableBytes > 0, case .head(let head, let consumed) = try parser.parse(buffer.readable, requestMethod: method) {
                buffer.moveReaderIndex(by: consumed)
                if head.status.code >= 100 && head.status.code < 200 && head.status.code != 101 { continue }
                if !head.keepAlive { isReusable = false }
                return head
            }
            let n: Int
            do {
                n = try await transport.read(into: buffer, deadline: deadline)
            } catch IOError.timeout {
                isReusable = false
                throw ClientError.timeout(phase: "first byte")
            }
            if n == 0 {
                isReusable = false
                throw ClientError.closed
            }
            receivedResponseBytes = true
        }
    }

    func close() {
        isReusable = false
        transport.close()
    }
}

/// Streams one response body from its connection as the consumer pulls, which is the
/// backpressure: nothing more is read from the upstream until the client took what it had.
/// When the body ends cleanly the connection goes back to the pool; if the consumer drops it
/// early the connection is closed.
final class ClientBodyReader: BodySource, @unchecked Sendable {
    // Loop-confined; `next()` hops onto the connection's loop when called from elsewhere.
    let connection: ClientConnection
    private let pool: ConnectionPool
    var remaining: Int
    private(set) var decoder: ChunkedDecoder?
    let untilClose: Bool
    let idleTimeout: Duration
    private(set) var finished = false
    static let readSize = 256 * 1024

    init(connection: ClientConnection, pool: ConnectionPool, framing: HTTP1ResponseHead.Framing, idleTimeout: Duration) {
        self.connection = connection
        self.pool = pool
        self.idleTimeout = idleTimeout
        switch framing {
        case .none:
            remaining = 0
            untilClose = false
        case .contentLength(let length):
            remaining = length
            untilClose = false
        case .chunked:
            remaining = -1
            decoder = ChunkedDecoder()
            untilClose = false
        case .untilClose:
            remaining = -1
            untilClose = true
        }
        if case .none = framing { finish(clean: true) }
    }

    deinit {
        if !finished {
            let connection = self.connection, pool = self.pool
            connection.loop.execute {
                connection.close()
                pool.release(connection)
            }
        }
    }

    func next() async throws -> [UInt8]? {
        let loop = connection.loop
        if loop.inLoop { return try await nextOnLoop() }
        return try await withTaskExecutorPreference(loop) { try await self.nextOnLoop() }
    }

    func finish(clean: Bool) {
        guard !finished else { return }
        finished = true
        if !clean { connection.close() }
        pool.release(connection)
    }

    private func nextOnLoop() async throws -> [UInt8]? {
        if finished { return nil }
        do {
            if let decoder {
                return try await nextChunked(decoder)
            }
            let buffer = connection.buffer
            // A large body with nothing buffered is read straight into the chunk it becomes: one copy
            // (kernel to chunk) instead of two (kernel to buffer to chunk).
            if buffer.readableBytes == 0, untilClose || remaining >= 16 * 1024 {
                let want = untilClose ? Self.readSize : min(remaining, Self.readSize)
                let chunk = try await readDirect(want)
                if chunk.isEmpty {
                    if untilClose {
                        connection.isReusable = false
                        finish(clean: true)
                        return nil
                    }
                    throw ClientError.closed
                }
                if !untilClose {
                    remaining -= chunk.count
                    if remaining == 0 { finish(clean: true) }
                }
                return chunk
            }
            if buffer.readableBytes == 0 {
                let n = try await fill()
                if n == 0 {
                    if untilClose {
                        connection.isReusable = false
                        finish(clean: true)
                        return nil
                    }
                    throw ClientError.closed
                }
            }
            let chunk = buffer.read(upTo: untilClose ? Self.readSize : min(remaining, Self.readSize))
            if !untilClose {
                remaining -= chunk.count
                if remaining == 0 { finish(clean: true) }
            }
            return chunk
        } catch {
            finish(clean: false)
            throw error
        }
    }

    private func nextChunked(_ start: ChunkedDecoder) async throws -> [UInt8]? {
        var decoder = start
        defer { self.decoder = decoder }
        let buffer = connection.buffer
        while true {
            if buffer.readableBytes > 0 {
                let result: (consumed: Int, event: ChunkedDecoder.Event?)
                do {
                    result = try decoder.decode(buffer.readable)
                } catch {
                    throw ClientError.badResponse("\(error)")
                }
                switch result.event {
                case .data(let range):
                    let chunk = [UInt8](UnsafeRawBufferPointer(rebasing: buffer.readable[range]))
                    buffer.moveReaderIndex(by: result.consumed)
                    if !chunk.isEmpty { return chunk }
                    continue
                case .end:
                    buffer.moveReaderIndex(by: result.consumed)
                    self.decoder = decoder
                    finish(clean: true)
                    return nil
                case nil:
                    buffer.moveReaderIndex(by: result.consumed)
                }
            }
            if try await fill() == 0 { throw ClientError.closed }
        }
    }

    /// Reads up to `count` bytes into a chunk of their own; empty when the upstream closed.
    private func readDirect(_ count: Int) async throws -> [UInt8] {
        let transport = connection.transport
        let deadline = Monotonic.after(idleTimeout)
        while true {
            do {
                var outcome = ImmediateRead.closed
                let chunk = try [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
                    outcome = try transport.readNow(into: UnsafeMutableRawBufferPointer(storage))
                    if case .bytes(let n) = outcome { initialized = n } else { initialized = 0 }
                }
                switch outcome {
                case .bytes(let n):
                    // A short read keeps a right-sized copy, so chunks held by a cache never pin far
                    // more memory than the bytes they carry.
                    return n < count / 4 ? Array(chunk) : chunk
                case .closed: return []
                case .wantRead: try await transport.io.waitReadable(deadline: deadline)
                case .wantWrite: try await transport.io.waitWritable(deadline: deadline)
                }
            } catch IOError.timeout {
                throw ClientError.timeout(phase: "idle")
            } catch is IOError {
                throw ClientError.closed
            }
        }
    }

    private func fill() async throws -> Int {
        // Bodies are read in large slices: one wake-up and one copy per 256 KiB instead of per 16 KiB
        // roughly halves the cost of streaming. The pool shrinks the buffer again on release.
        connection.buffer.reserveWritable(Self.readSize)
        do {
            return try await connection.transport.read(into: connection.buffer, deadline: Monotonic.after(idleTimeout))
        } catch IOError.timeout {
            throw ClientError.timeout(phase: "idle")
        } catch let error as IOError {
            _ = error
            throw ClientError.closed
        }
    }
}
