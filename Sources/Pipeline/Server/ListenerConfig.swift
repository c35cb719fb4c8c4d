/// Connection timeouts. The head timeout runs from the first byte of a request to the end of its
/// head, so a slowloris client that trickles header bytes is closed when it expires.
public struct Timeouts: Sendable, Equatable {
    public var requestHead: Duration = .seconds(15)
    public var bodyIdle: Duration = .seconds(30)
    public var keepAlive: Duration = .seconds(75)
    /// How long a write may wait for a client that reads nothing.
    public var sendIdle: Duration = .seconds(60)

    public init() {}
}

/// HTTP/2 settings of a listener: what is advertised in SETTINGS and the flood limits that end a
/// connection with GOAWAY ENHANCE_YOUR_CALM.
public struct HTTP2Settings: Sendable, Equatable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS; streams whose handler still runs after a reset count too.
    public var maxConcurrentStreams = 128
    /// SETTINGS_MAX_HEADER_LIST_SIZE. A request whose decoded header list is larger gets 431
    /// (HPACK bombs); a header block larger on the wire ends the connection (CONTINUATION flood).
    public var maxHeaderListBytes = 64 * 1024
    /// SETTINGS_INITIAL_WINDOW_SIZE: how much of a request body a client may send ahead of the
    /// handler. The connection window is four times this.
    public var initialWindowBytes = 1 << 20
    /// Stream resets a client may cause per second before the connection is closed with
    /// ENHANCE_YOUR_CALM (CVE-2023-44487).
    public var maxResetsPerSecond = 200
    /// SETTINGS, PING, PRIORITY, empty DATA and unknown frames a client may send per second
    /// (CVE-2019-9512/9515/9518 style floods).
    public var maxControlFramesPerSecond = 1000

    /// The connection-level receive window.
    var connectionWindowBytes: Int { min(initialWindowBytes * 4, Int(Int32.max)) }

    public init() {}
}

/// One entry of `listeners`: where to accept, with or without TLS, and the limits that apply.
public struct ListenerConfig: Sendable {
    public let name: String
    public let addresses: [SocketAddress]
    public let tls: TLSServerContext?
    /// What the listener speaks: `http/1.1`, and `h2` (ALPN on TLS, prior knowledge on plain).
    public let protocols: [String]
    public let trustForwardedFrom: [CIDR]
    public let limits: HTTPLimits
    public let timeouts: Timeouts
    public let http2: HTTP2Settings
    /// Every connection starts with a PROXY protocol header (v1 or v2) naming the client; the
    /// header is read before TLS, and the address it carries is the client's from then on.
    public let proxyProtocol: Bool
    /// Peers allowed to send that header (the load balancers); anyone else is refused.
    public let trustProxyFrom: [CIDR]

    public init(name: String, addresses: [SocketAddress], tls: TLSServerContext? = nil, protocols: [String] = ["http/1.1"],
                trustForwardedFrom: [CIDR] = [], limits: HTTPLimits = HTTPLimits(), timeouts: Timeouts = Timeouts(),
                http2: HTTP2Settings = HTTP2Settings(), proxyProtocol: Bool = false, trustProxyFrom: [CIDR] = []) {
        self.name = name
        self.addresses = addresses
        self.tls = tls
        self.protocols = protocols
        self.trustForwardedFrom = trustForwardedFrom
        self.limits = limits
        self.timeouts = timeouts
        self.http2 = http2
        self.proxyProtocol = proxyProtocol
        self.trustProxyFrom = trustProxyFrom
    }

    public func trusts(_ address: SocketAddress) -> Bool {
        trustForwardedFrom.contains { $0.contains(address) }
    }

    /// Whether `address` may send a PROXY protocol header on this listener.
    public func acceptsProxyHeader(from address: SocketAddress) -> Bool {
        trustProxyFrom.contains { $0.contains(address) }
    }
}

extension ListenerConfig {
    /// What a TLS listener offers in ALPN when `protocols` is not given, in preference order.
    public static let defaultTLSProtocols = ["h2", "http/1.1"]
}
