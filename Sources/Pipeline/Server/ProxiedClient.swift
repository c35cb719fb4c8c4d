extension Server {
    /// The client a PROXY protocol header names, or nil (logged) when the connection must close:
    /// the peer is not a trusted balancer, or its header is missing, malformed, truncated or late.
    static func proxiedClient(_ io: SocketIO, peer: SocketAddress, config: ListenerConfig, core: ServerCore) async -> SocketAddress? {
        guard config.acceptsProxyHeader(from: peer) else {
            core.proxyRefusedUntrusted.wrappingAdd(1, ordering: .relaxed)
            if shouldLog("untrusted", core) {
                Log.warning("PROXY protocol: connection from an address not in trustProxyFrom refused",
                            [("listener", config.name), ("peer", peer.ip)])
            }
            return nil
        }
        do {
            let header = try await ProxyHeaderReader.read(io, deadline: Monotonic.after(ProxyHeaderReader.timeout))
            return header.source ?? peer
        } catch {
            core.proxyRefusedInvalid.wrappingAdd(1, ordering: .relaxed)
            if shouldLog(kind(of: error), core) {
                Log.warning("PROXY protocol: connection closed", [("listener", config.name), ("peer", peer.ip), ("reason", "\(error)")])
            }
            return nil
        }
    }

    /// Whoever can connect can make these lines: one per second per kind, the rest only counted
    /// (`gateway_proxy_protocol_refused_total`).
    private static func shouldLog(_ kind: String, _ core: ServerCore) -> Bool {
        let now = Monotonic.now
        return core.proxyRefusalLogged.withLock { last in
            if let previous = last[kind], now &- previous < 1000 { return false }
            last[kind] = now
            return true
        }
    }

    private static func kind(of error: any Error) -> String {
        switch error {
        case ProxyHeaderError.missing: "missing"
        case ProxyHeaderError.malformed: "malformed"
        case ProxyHeaderError.truncated: "truncated"
        default: "other"
        }
    }
}
