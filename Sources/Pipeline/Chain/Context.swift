import Synchronization

/// A request's id as the server keeps it: text given by whoever made the context, or a prefix
/// and a number formatted on demand.
enum RequestID: Sendable {
    case given(String)
    case numbered(prefix: String, number: UInt64)

    /// The prefix and at least 8 hex digits of `number`, formatted by hand.
    static func format(prefix: String, number n: UInt64) -> String {
        let digits = max(8, (64 - n.leadingZeroBitCount + 3) / 4)
        return String(unsafeUninitializedCapacity: prefix.utf8.count + digits) { buffer in
            var i = 0
            for byte in prefix.utf8 {
                buffer[i] = byte
                i += 1
            }
            for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
                let digit = UInt8((n >> UInt64(shift)) & 0xF)
                buffer[i] = digit < 10 ? 0x30 + digit : 0x57 + digit
                i += 1
            }
            return i
        }
    }
}

/// Who made a request, as an auth middleware established it.
public struct Identity: Sendable, Hashable {
    /// The user name, token name or token subject.
    public var subject: String
    /// How it was proven: `basic`, `bearer`, `oidc`, `signed-url`.
    public var method: String
    /// Chosen claims worth logging (e.g. `repository`, `ref`); never secrets.
    public var claims: [String: String]

    public init(subject: String, method: String, claims: [String: String] = [:]) {
        self.subject = subject
        self.method = method
        self.claims = claims
    }
}

/// Route parameters (`:name` and `*`) a router matched.
public struct Parameters: Sendable, Hashable {
    public private(set) var pairs: [(String, String)] = []

    public init(_ pairs: [(String, String)] = []) { self.pairs = pairs }

    public subscript(name: String) -> String? { pairs.last { $0.0 == name }?.1 }

    public mutating func set(_ name: String, _ value: String) { pairs.append((name, value)) }

    public static func == (a: Parameters, b: Parameters) -> Bool { a.pairs.elementsEqual(b.pairs) { $0 == $1 } }
    public func hash(into hasher: inout Hasher) { for (k, v) in pairs { hasher.combine(k); hasher.combine(v) } }
}

/// How a response went out, reported to whoever asked with `Context.onComplete`.
public struct Completion: Sendable {
    public var status: Int
    /// Body bytes written to the client.
    public var bytes: Int
    /// True when the body stopped before its end (upstream died, client left, timeout).
    public var aborted: Bool
    public var duration: Duration
}

/// Per-request facts and the little state that flows between middlewares.
/// Immutable facts are plain properties; route parameters, identity and log annotations
/// sit behind a mutex so a context may cross tasks (a cache fill, a coalesced fetch).
public final class Context: Sendable {
    /// The request's id: given, or the server's prefix and the request's number in hex, written
    /// out only when someone asks (an access log line, a 500's message), not for every request.
    public var requestID: String {
        switch id {
        case .given(let text): text
        case .numbered(let prefix, let number): RequestID.format(prefix: prefix, number: number)
        }
    }
    private let id: RequestID
    /// The peer's IP address (the load balancer's, behind one).
    public let clientAddress: String
    public let listener: String
    /// The stack whose chain handles the request.
    public let stack: String
    /// Whether this connection is TLS.
    public let isSecure: Bool
    /// Whether the peer is listed in the listener's `trustForwardedFrom`.
    public let peerIsTrustedProxy: Bool
    public let version: HTTPVersion
    /// `TLSv1.3`, `TLSv1.2`, or nil on plain connections.
    public let tlsVersion: String?
    public let started: ContinuousClock.Instant
    /// When the whole request should be done; upstream calls use it for their timeouts.
    public let deadline: ContinuousClock.Instant
    /// Whether the server that took the request is starting, ready or draining (`health`).
    public let readiness: Readiness

    private struct State {
        var parameters = Parameters()
        var identity: Identity?
        var annotations: [(String, String)] = []
        var completions: [@Sendable (Completion) -> Void] = []
        var completed = false
    }

    private let state = Mutex(State())

    public convenience init(requestID: String, clientAddress: String = "127.0.0.1", listener: String = "", stack: String = "",
                isSecure: Bool = false, peerIsTrustedProxy: Bool = false, version: HTTPVersion = .http1_1,
                tlsVersion: String? = nil, timeout: Duration = .seconds(300), readiness: Readiness = .standalone) {
        self.init(id: .given(requestID), clientAddress: clientAddress, listener: listener, stack: stack, isSecure: isSecure,
                  peerIsTrustedProxy: peerIsTrustedProxy, version: version, tlsVersion: tlsVersion, timeout: timeout,
                  readiness: readiness)
    }

    init(id: RequestID, clientAddress: String, listener: String, stack: String, isSecure: Bool, peerIsTrustedProxy: Bool,
         version: HTTPVersion, tlsVersion: String?, timeout: Duration, readiness: Readiness) {
        self.id = id
        self.clientAddress = clientAddress
        self.listener = listener
        self.stack = stack
        self.isSecure = isSecure
        self.peerIsTrustedProxy = peerIsTrustedProxy
        self.version = version
        self.tlsVersion = tlsVersion
        started = .now
        deadline = started + timeout
        self.readiness = readiness
    }

    public var parameters: Parameters {
        get { state.withLock { $0.parameters } }
        set { state.withLock { $0.parameters = newValue } }
    }

    public var identity: Identity? {
        get { state.withLock { $0.identity } }
        set { state.withLock { $0.identity = newValue } }
    }

    /// Adds a key and value to the access log line for this request (never a secret).
    public func annotate(_ key: String, _ value: String) {
        state.withLock { $0.annotations.append((key, value)) }
    }

    public var annotations: [(String, String)] { state.withLock { $0.annotations } }

    /// Runs `callback` once the response has been written (or aborted).
    public func onComplete(_ callback: @escaping @Sendable (Completion) -> Void) {
        state.withLock { $0.completions.append(callback) }
    }

    /// Called by the codec when the response is done.
    public func complete(status: Int, bytes: Int, aborted: Bool) {
        let callbacks = state.withLock { state -> [@Sendable (Completion) -> Void]? in
            guard !state.completed else { return nil }
            state.completed = true
            defer { state.completions = [] }
            return state.completions
        }
        // Counted once, whichever codec reports it.
        guard let callbacks else { return }
        let completion = Completion(status: status, bytes: bytes, aborted: aborted, duration: .now - started)
        MetricsRegistry.shared.record(stack: stack, version: version, status: status, bytes: bytes, aborted: aborted,
                                      duration: completion.duration)
        for callback in callbacks { callback(completion) }
    }

    /// The scheme the client used: `https` on TLS connections, or what a trusted proxy says in
    /// `X-Forwarded-Proto`; nobody else is believed.
    public func scheme(of request: Request) -> String {
        if isSecure { return "https" }
        if peerIsTrustedProxy, let proto = request.headers["X-Forwarded-Proto"]?.split(separator: ",").first {
            let value = proto.trimmingASCIIWhitespace().lowercasedASCII()
            if value == "https" || value == "http" { return value }
        }
        return "http"
    }
}
