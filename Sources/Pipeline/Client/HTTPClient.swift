import Synchronization

/// An upstream response: the head, and the body streaming from the connection as it is read.
public struct ClientResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPFields
    public var body: IncomingBody
    /// The URL that answered (after redirects).
    public var url: HTTPURL
}

/// The HTTP/1.1 client every upstream fetch goes through: TCP and TLS (system CAs plus an
/// optional CA file, SNI, hostname verification, TLS 1.2+), a pool per origin on each event loop,
/// streamed bodies with backpressure in both directions, redirects for GET and HEAD that drop
/// credentials when the origin changes, timeouts for connect, TLS, first byte and idle, and one
/// retry of an idempotent request that failed before any response byte.
///
/// ```swift
/// let response = try await HTTPClient.shared.execute(Request(url: "https://api.github.com/repos/acme/x/tags")!)
/// let json = try await response.body.collect(upTo: 1 << 20)
/// ```
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Extra CA certificates (PEM) trusted besides the system bundle.
        public var caFile: String?
        public var connectTimeout: Duration = .seconds(10)
        public var firstByteTimeout: Duration = .seconds(60)
        public var idleTimeout: Duration = .seconds(60)
        public var maxConnectionsPerOrigin = 64
        public var poolIdleTimeout: Duration = .seconds(60)
        public var maxRedirects = 5
        public var maxResponseHeadBytes = 64 * 1024
        public var userAgent = "gateway/\(GatewayVersion.string)"

        public init() {}
    }

    public let configuration: Configuration
    let tls: ClientTLSContext
    /// Names this client's pools on the loops. Not `ObjectIdentifier(self)`: a reload frees clients and
    /// a new one may get the same address, which would inherit the old pool (its limit, its connections
    /// verified against another CA file).
    let id: UInt64
    private static let nextID = Atomic<UInt64>(1)

    /// A client trusting the system CA bundle.
    public static let shared: HTTPClient = try! HTTPClient()

    public init(_ configuration: Configuration = Configuration()) throws {
        self.configuration = configuration
        tls = try ClientTLSContext(caFile: configuration.caFile)
        id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Sends `request` to its absolute URL (scheme, authority, path, query) and returns once the
    /// response head has arrived. Redirects are followed for GET and HEAD when `followRedirects`.
    /// With `deadline` (a stack's `timeout`), every step up to the response head — waiting for a
    /// connection, connecting, the first byte, redirects — ends by then at the latest; the body is
    /// bounded by the idle timeout only, so a long download is not cut.
    public func execute(_ request: Request, followRedirects: Bool = true, deadline: ContinuousClock.Instant? = nil) async throws -> ClientResponse {
        let loop = CurrentLoop.loop ?? EventLoop.background
        if loop.inLoop { return try await run(request, followRedirects: followRedirects, deadline: deadline, loop: loop) }
        return try await withTaskExecutorPreference(loop) {
            try await self.run(request, followRedirects: followRedirects, deadline: deadline, loop: loop)
        }
    }

    /// GET `url` with `headers`.
    public func get(_ url: String, headers: HTTPFields = [:]) async throws -> ClientResponse {
        guard let request = Request(url: url, headers: headers) else { throw ClientError.invalidURL(url) }
        return try await execute(request)
    }

    private func run(_ original: Request, followRedirects: Bool, deadline: ContinuousClock.Instant?, loop: EventLoop) async throws -> ClientResponse {
        guard var url = original.url else { throw ClientError.invalidURL("\(original.scheme)://\(original.authority)\(original.target)") }
        var request = original
        if request.headers["User-Agent"] == nil { request.headers["User-Agent"] = configuration.userAgent }
        let pool = loop.pool(for: self)
        var hops = 0
        while true {
            let response = try await send(request, to: url, pool: pool, loop: loop, deadline: deadline)
            guard followRedirects, request.method == .get || request.method == .head,
                  [301, 302, 303, 307, 308].contains(response.status.code),
                  let location = response.headers["Location"], let next = url.resolving(location) else {
                return response
            }
            hops += 1
            guard hops <= configuration.maxRedirects else { throw ClientError.tooManyRedirects }
            // What was asked for over TLS is not fetched in the clear (a tarball, a signed asset URL).
            guard !(url.scheme == "https" && next.scheme == "http") else {
                throw ClientError.badResponse("redirect from https to http refused")
            }
            // Small redirect bodies are read so the connection can be reused; big ones are dropped.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            if next.origin != url.origin {
                // Credentials belong to the origin they were meant for (RFC 9110 §15.4): a redirect to
                // a storage host must not carry the GitHub token along.
                request.headers.remove("Authorization")
                request.headers.remove("Cookie")
                request.headers.remove("Proxy-Authorization")
            }
            url = next
            request.scheme = next.scheme
            request.authority = next.authority
            request.path = next.path
            request.query = next.query
        }
    }

    private func send(_ request: Request, to url: HTTPURL, pool: ConnectionPool, loop: EventLoop,
                      deadline: ContinuousClock.Instant?) async throws -> ClientResponse {
        /// `phase`, or less when the deadline comes first.
        func within(_ phase: Duration) throws -> Duration {
            guard let deadline else { return phase }
            let left = deadline - .now
            guard left > .zero else { throw ClientError.timeout(phase: "the stack's timeout") }
            return min(phase, left)
        }
        let key = PoolKey(scheme: url.scheme, host: url.host, port: url.port)
        // A body already streamed cannot be sent twice; only requests without one are retried.
        let replayable = request.method.isIdempotent && request.body.isEmpty
        var attempt = 0
        while true {
            attempt += 1
            let connection: ClientConnection
            if let pooled = try await pool.checkout(key, timeout: within(configuration.connectTimeout)) {
                connection = pooled
            } else {
                do {
                    connection = try await ClientConnection.connect(key, tls: tls, loop: loop, timeout: within(configuration.connectTimeout))
                } catch {
                    pool.cancelReservation(key)
                    throw error
                }
            }
            do {
                try await connection.send(request, to: url, idleTimeout: configuration.idleTimeout)
                let head = try await connection.readHead(for: request.method, firstByte: within(configuration.firstByteTimeout),
                                                         maxHeadBytes: configuration.maxResponseHeadBytes)
                let reader = ClientBodyReader(connection: connection, pool: pool, framing: head.framing, idleTimeout: configuration.idleTimeout)
                var length: Int?
                switch head.framing {
                case .none: length = 0
                case .contentLength(let n): length = n
                default: length = nil
                }
                let body = length == 0 ? IncomingBody.empty : IncomingBody(source: reader, length: length)
                return ClientResponse(status: head.status, headers: head.headers, body: body, url: url)
            } catch {
                let beforeResponse = !connection.receivedResponseBytes
                connection.close()
                pool.release(connection)
                // The client's own body failed (too large, ended early): that is its 413/400, not a 502.
                if let requestError = error as? HTTPError { throw requestError }
                if beforeResponse, replayable, attempt == 1, !((error as? ClientError)?.isTimeout ?? false) { continue }
                if let clientError = error as? ClientError { throw clientError }
                if case IOError.timeout = error { throw ClientError.timeout(phase: "send") }
                throw ClientError.closed
            }
        }
    }
}

extension EventLoop {
    /// A loop for clients called from outside any loop (background refreshers, the CLI, tests).
    static let background: EventLoop = {
        let loop = try! EventLoop(index: -1)
        loop.start()
        return loop
    }()

    /// This loop's connection pool for `client`.
    func pool(for client: HTTPClient) -> ConnectionPool {
        if let pool = clientPools[client.id] { return pool }
        let pool = ConnectionPool(loop: self, clientID: client.id, limit: client.configuration.maxConnectionsPerOrigin,
                                  idleTimeout: client.configuration.poolIdleTimeout)
        clientPools[client.id] = pool
        return pool
    }
}
