import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// The state every connection shares: the current pipeline (swapped whole on reload), whether
/// the server is draining, request ids, and the count of open connections.
final class ServerCore: Sendable {
    private let current: Mutex<LoadedPipeline>
    let draining = Atomic<Bool>(false)
    let openConnections = Atomic<Int>(0)
    let readiness = Readiness()
    /// Connections closed before HTTP on a proxyProtocol listener: an untrusted peer, a bad header.
    let proxyRefusedUntrusted = Atomic<Int>(0)
    let proxyRefusedInvalid = Atomic<Int>(0)
    /// When a refusal of each kind was last logged (monotonic ms): at most one line per second per kind.
    let proxyRefusalLogged = Mutex<[String: UInt64]>([:])
    private let requestCounter = Atomic<UInt64>(0)
    private let idPrefix: String

    init(pipeline: LoadedPipeline) {
        current = Mutex(pipeline)
        idPrefix = SecureRandom.hex(4)
    }

    var pipeline: LoadedPipeline {
        get { current.withLock { $0 } }
    }

    /// Installs a new pipeline and returns the old one.
    func swap(_ pipeline: LoadedPipeline) -> LoadedPipeline {
        current.withLock { old in
            let previous = old
            old = pipeline
            return previous
        }
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    /// Set once a drain's idle grace has passed: a connection with no request in flight closes.
    let closingIdle = Atomic<Bool>(false)
    var closesIdle: Bool { closingIdle.load(ordering: .relaxed) }

    /// The next request's id (formatted only when asked for: `Context.requestID`).
    func nextRequestID() -> RequestID {
        .numbered(prefix: idPrefix, number: requestCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// Picks the stack, builds the context and runs the chain. Never throws: errors are responses.
    func respond(to request: Request, on connection: ConnectionInfo) async -> (Response, Context) {
        let pipeline = self.pipeline
        var request = request
        // Routed, matched and forwarded by the path it means, never by one that means another
        // further on (`/public/../admin` is `/admin`, whichever stack that is).
        switch Request.checkPath(request.path) {
        case .clean: break
        case .dotSegments: request.path = Request.removingDotSegments(request.path)
        case .refused(let reason):
            RefusalLog.refused(connection, protocol: connection.version == .http2 ? "HTTP/2" : "HTTP/1.1", status: 400, reason: reason)
            return (HTTPError(.badRequest, reason).response, makeContext(connection, stack: "", timeout: .seconds(30)))
        }
        guard let stack = pipeline.stack(for: request, listener: connection.listener.name) else {
            let context = makeContext(connection, stack: "", timeout: .seconds(30))
            return (HTTPError(.notFound, "no stack serves this path").response, context)
        }
        let context = makeContext(connection, stack: stack.name, timeout: stack.requestTimeout)
        if let length = request.body.length, length > stack.maxBodyBytes {
            RefusalLog.refused(connection, protocol: connection.version == .http2 ? "HTTP/2" : "HTTP/1.1", status: 413, reason: "request body too large")
            return (HTTPError(.contentTooLarge, "request body too large").response, context)
        }
        if !request.body.isEmpty { request.body = request.body.limited(to: stack.maxBodyBytes) }
        return (await stack.chain.handle(request, context: context), context)
    }

    private func makeContext(_ connection: ConnectionInfo, stack: String, timeout: Duration) -> Context {
        Context(id: nextRequestID(), clientAddress: connection.peerIP, listener: connection.listener.name, stack: stack,
                isSecure: connection.isSecure, peerIsTrustedProxy: connection.peerIsTrustedProxy,
                version: connection.version, tlsVersion: connection.tlsVersion, timeout: timeout, readiness: readiness)
    }
}
