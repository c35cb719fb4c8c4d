/// What the codecs know about a connection, passed to the dispatcher with each request.
struct ConnectionInfo: Sendable {
    let listener: ListenerConfig
    let peer: SocketAddress
    let tlsVersion: String?
    let version: HTTPVersion
    /// The peer's address as text and whether it is a trusted proxy, worked out once per
    /// connection rather than for every request on it.
    let peerIP: String
    let peerIsTrustedProxy: Bool
    var isSecure: Bool { tlsVersion != nil }

    init(listener: ListenerConfig, peer: SocketAddress, tlsVersion: String?, version: HTTPVersion) {
        self.listener = listener
        self.peer = peer
        self.tlsVersion = tlsVersion
        self.version = version
        peerIP = peer.ip
        peerIsTrustedProxy = listener.trusts(peer)
    }
}

/// A connection a loop can ask to wind down when the server drains.
protocol DrainableConnection: AnyObject {
    /// Close at once if idle; otherwise finish what is in flight and then close (HTTP/2: GOAWAY).
    func drain()
}
