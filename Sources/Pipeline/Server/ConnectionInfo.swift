/// What the codecs know about a connection, passed to the dispatcher with each request.
struct ConnectionInfo: Sendable {
    let listener: ListenerConfig
    let peer: SocketAddress
    let tlsVersion: String?
    let version: HTTPVersion
    var isSecure: Bool { tlsVersion != nil }
}

/// A connection a loop can ask to wind down when the server drains.
protocol DrainableConnection: AnyObject {
    /// Close at once if idle; otherwise finish what is in flight and then close (HTTP/2: GOAWAY).
    func drain()
}
