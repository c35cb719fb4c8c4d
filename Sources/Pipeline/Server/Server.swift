import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// The running server: one event loop per core, the listening sockets, and the current pipeline.
///
/// ```swift
/// let server = try Server(pipeline: loaded)
/// try server.start()
/// try server.reload(newPipeline)         // SIGHUP
/// await server.drain(timeout: .seconds(30))   // SIGTERM
/// ```
public final class Server: Sendable {
    let loops: [EventLoop]
    let core: ServerCore
    private let sockets = Mutex<[SocketKey: ListenerSocket]>([:])
    private let nextLoop = Atomic<Int>(0)
    /// Sockets a service manager passed in and no listener has taken yet, by bound address.
    private let inherited: Mutex<[SocketAddress: InheritedSocket]>
    let metrics: ServerMetrics

    /// `inherited`: listening sockets passed in (`SocketActivation.takeInherited()`); a listener
    /// whose address one is bound to uses it instead of binding its own.
    public init(pipeline: LoadedPipeline, inherited: [InheritedSocket] = []) throws {
        self.inherited = Mutex(Dictionary(inherited.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first }))
        let count = pipeline.workers > 0 ? pipeline.workers : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        loops = try (0..<count).map { try EventLoop(index: $0) }
        core = ServerCore(pipeline: pipeline)
        metrics = ServerMetrics(core: core)
        MetricsRegistry.shared.register(metrics)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Counts a reload's result for `/metrics` (`gateway_reloads_total`); the CLI's supervisor
    /// calls it for reloads refused before `reload` (a pipeline.json with errors).
    public func recordReload(succeeded: Bool) { metrics.reloaded(succeeded) }

    /// The pipeline serving new requests.
    public var pipeline: LoadedPipeline { core.pipeline }

    /// Binds every listener and starts the loops. Throws (and binds nothing) if any address fails.
    public func start() throws {
        MemoryTrim.prepare()
        let opened = try open(core.pipeline.listeners, reusing: [:])
        do {
            // The loops are not running yet, so their acceptor tables can be filled from here.
            for loop in loops {
                for socket in opened.values { loop.acceptors[socket.fd] = try Acceptor(socket: socket, loop: loop, server: self) }
            }
        } catch {
            for loop in loops {
                for acceptor in loop.acceptors.values { acceptor.deregister() }
                loop.acceptors = [:]
            }
            for socket in opened.values { socket.close() }
            throw error
        }
        sockets.withLock { $0 = opened }
        core.pipeline.activateMetrics()
        for loop in loops { loop.start() }
        logListening(Array(opened.values))
        for passed in inherited.withLock({ Array($0.values) }) {
            Log.warning("a passed socket matches no listener's address; kept for a reload", [("address", "\(passed.address)")])
        }
        core.readiness.advance(to: .ready)
    }

    /// Starting, ready, or draining: what `/readyz` reports.
    public var readiness: Readiness { core.readiness }

    /// Reports not ready (`/readyz` 503) from now on while serving on as before; `drain` follows
    /// after the pipeline's `drainDelay`, once load balancers have noticed.
    public func stopBeingReady() {
        core.readiness.advance(to: .draining)
    }

    /// One `listening` line per newly bound socket, at start and for those a reload adds.
    private func logListening(_ sockets: [ListenerSocket]) {
        for socket in sockets.sorted(by: { $0.address.description < $1.address.description }) {
            let config = socket.current
            Log.info("listening", [("listener", config.name), ("address", "\(SocketAddress(bytes: socket.address.bytes, port: socket.boundPort))"),
                                   ("tls", config.tls == nil ? "off" : "on"), ("protocols", config.protocols.joined(separator: ","))])
        }
    }

    /// The listening sockets and their listeners' names, for a process handover.
    var listeningSockets: [(fd: Int32, name: String)] {
        sockets.withLock { $0.values.sorted { $0.fd < $1.fd }.map { ($0.fd, $0.current.name) } }
    }

    /// The ports actually bound, by listener name (useful with port 0).
    public var boundPorts: [String: [UInt16]] {
        sockets.withLock { sockets in
            var result: [String: [UInt16]] = [:]
            for socket in sockets.values { result[socket.current.name, default: []].append(socket.boundPort) }
            return result
        }
    }

    private func open(_ listeners: [ListenerConfig], reusing existing: [SocketKey: ListenerSocket]) throws -> [SocketKey: ListenerSocket] {
        var result: [SocketKey: ListenerSocket] = [:]
        do {
            for listener in listeners {
                for address in listener.addresses {
                    let key = SocketKey(address: address, listener: listener.name)
                    // A listener on port 0 is found again by the port it was given, too.
                    if let socket = existing[key] ?? existing.values.first(where: { $0.boundAddress == address }) {
                        socket.update(listener)
                        result[key] = socket
                    } else if let passed = takeInherited(address, listener: listener.name) {
                        result[key] = ListenerSocket(adopting: passed, config: listener)
                    } else {
                        result[key] = try ListenerSocket(address: address, config: listener)
                    }
                }
            }
        } catch {
            for socket in result.values where !existing.values.contains(where: { $0 === socket }) { socket.close() }
            throw error
        }
        return result
    }

    /// A passed socket for `address`: bound to it, or for port 0 (the port a predecessor's kernel
    /// chose) one on the same IP named for the listener.
    private func takeInherited(_ address: SocketAddress, listener: String) -> InheritedSocket? {
        inherited.withLock { pool in
            if let exact = pool.removeValue(forKey: address) { return exact }
            guard address.port == 0,
                  let match = pool.values.first(where: { $0.name == listener && $0.address.bytes == address.bytes }) else { return nil }
            return pool.removeValue(forKey: match.address)
        }
    }

    /// Swaps in `pipeline` (already built and validated). New listeners are bound first; if one
    /// cannot be, nothing changes. Listeners that stay keep their sockets and get the new config
    /// (certificates included); requests in flight finish on the pipeline they started with.
    /// Returns the old pipeline so its middlewares can be stopped. Reloads and `drain` must not
    /// overlap (the CLI's supervisor runs them one after another); a reload once draining has
    /// begun is refused.
    @discardableResult
    public func reload(_ pipeline: LoadedPipeline) async throws -> LoadedPipeline {
        guard !core.isDraining else { throw ServerDraining() }
        let current = sockets.withLock { $0 }
        let opened = try open(pipeline.listeners, reusing: current)
        let added = opened.values.filter { socket in !current.values.contains { $0 === socket } }
        let removed = current.values.filter { socket in !opened.values.contains { $0 === socket } }
        for loop in loops {
            await onLoop(loop) {
                for socket in added { loop.acceptors[socket.fd] = try? Acceptor(socket: socket, loop: loop, server: self) }
                for socket in removed { loop.acceptors.removeValue(forKey: socket.fd)?.deregister() }
            }
        }
        for socket in removed { socket.close() }
        sockets.withLock { $0 = opened }
        logListening(added)
        let old = core.swap(pipeline)
        pipeline.activateMetrics()
        return old
    }

    /// How long idle keep-alive connections stay open once draining begins. A client that sends
    /// its next request meanwhile is answered with `Connection: close`; closing a connection at
    /// the moment its client reuses it would fail that request (the client sees a reset).
    static let idleGrace: Duration = .seconds(1)

    /// Stops accepting, lets requests in flight finish (answered with `Connection: close`), closes
    /// connections still idle after `idleGrace`, and returns when every connection is closed or
    /// `timeout` has passed.
    public func drain(timeout: Duration) async {
        core.readiness.advance(to: .draining)
        core.draining.store(true, ordering: .relaxed)
        let all = sockets.withLock { $0 }
        for loop in loops {
            await onLoop(loop) {
                for acceptor in loop.acceptors.values { acceptor.deregister() }
                loop.acceptors = [:]
            }
        }
        for socket in all.values { socket.close() }
        sockets.withLock { $0 = [:] }
        let start = ContinuousClock.now
        let deadline = start + timeout
        let idleDeadline = start + min(Self.idleGrace, timeout)
        while core.openConnections.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            // After the grace, connections idle now (or gone idle since) are closed on each pass.
            guard ContinuousClock.now >= idleDeadline else { continue }
            core.closingIdle.store(true, ordering: .relaxed)
            for loop in loops {
                await onLoop(loop) { for connection in loop.connections.values { connection.drain() } }
            }
        }
    }

    /// The number of open client connections.
    public var openConnections: Int { core.openConnections.load(ordering: .relaxed) }

    private func onLoop(_ loop: EventLoop, _ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                body()
                continuation.resume()
            }
        }
    }

    /// Takes an accepted socket and serves it on the next loop in turn.
    func adopt(fd: Int32, peer: SocketAddress, listener: ListenerSocket) {
        let loop = loops[(nextLoop.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max) % loops.count]
        let config = listener.current
        let core = self.core
        core.openConnections.wrappingAdd(1, ordering: .relaxed)
        Task(executorPreference: loop) {
            await Server.serve(fd: fd, peer: peer, config: config, loop: loop, core: core)
            core.openConnections.wrappingSubtract(1, ordering: .relaxed)
            MemoryTrim.connectionClosed()
        }
    }

    private static func serve(fd: Int32, peer: SocketAddress, config: ListenerConfig, loop: EventLoop, core: ServerCore) async {
        guard let io = try? SocketIO(fd: fd, loop: loop) else {
            close(fd)
            return
        }
        var peer = peer
        if config.proxyProtocol {
            guard let client = await proxiedClient(io, peer: peer, config: config, core: core) else {
                io.close()
                return
            }
            peer = client
        }
        var transport: any Transport = PlainTransport(io: io)
        if let tls = config.tls {
            do {
                // A client that connects and sends no ClientHello costs no TLS object meanwhile.
                let handshakeDeadline = Monotonic.after(config.timeouts.requestHead)
                try await io.awaitInput(deadline: handshakeDeadline)
                let secure = try TLSTransport(io: io, context: tls)
                transport = secure
                try await secure.handshake(deadline: handshakeDeadline)
            } catch {
                transport.close()
                return
            }
        }
        let buffer = ByteBuffer()
        let speaksHTTP2: Bool
        if config.tls != nil {
            speaksHTTP2 = transport.negotiatedProtocol == "h2"
        } else if config.protocols.contains("h2") {
            // h2c with prior knowledge: the client's first bytes say which protocol it speaks.
            guard let preface = await HTTP2Preface.sniff(transport, into: buffer, deadline: Monotonic.after(config.timeouts.requestHead)) else {
                transport.close()
                return
            }
            speaksHTTP2 = preface
        } else {
            speaksHTTP2 = false
        }
        if !speaksHTTP2, !config.protocols.contains("http/1.1") {
            transport.close()
            return
        }
        let info = ConnectionInfo(listener: config, peer: peer, tlsVersion: transport.tlsVersion, version: speaksHTTP2 ? .http2 : .http1_1)
        if speaksHTTP2 {
            guard let connection = try? HTTP2Connection(transport: transport, core: core, info: info, buffer: buffer) else {
                transport.close()
                return
            }
            let id = ObjectIdentifier(connection)
            loop.connections[id] = connection
            await connection.run()
            loop.connections[id] = nil
        } else {
            let connection = HTTP1Connection(transport: transport, core: core, info: info, buffer: buffer)
            let id = ObjectIdentifier(connection)
            loop.connections[id] = connection
            await connection.run()
            loop.connections[id] = nil
        }
    }
}

/// Which socket a listener address is: the address, and for port 0 also the listener's name, so
/// several listeners may each ask the kernel for a port on the same address.
struct SocketKey: Hashable, Sendable {
    let address: SocketAddress
    let listener: String?

    init(address: SocketAddress, listener: String) {
        self.address = address
        self.listener = address.port == 0 ? listener : nil
    }
}

/// A reload asked for after draining began.
public struct ServerDraining: Error, CustomStringConvertible {
    public var description: String { "the server is draining" }
}
