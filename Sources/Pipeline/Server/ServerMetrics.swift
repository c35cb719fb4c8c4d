import Synchronization

/// The server's own series on `/metrics`, what an operator alerts on besides requests: open
/// connections, readiness and draining, reload results, refused PROXY protocol connections.
/// Process-wide (registered once per `Server`, under the key `server`).
final class ServerMetrics: MetricsSource {
    let metricsKey = "server"
    private unowned let core: ServerCore
    private let reloadsOK = Atomic<Int>(0)
    private let reloadsRefused = Atomic<Int>(0)

    init(core: ServerCore) { self.core = core }

    func reloaded(_ succeeded: Bool) {
        if succeeded {
            reloadsOK.wrappingAdd(1, ordering: .relaxed)
        } else {
            reloadsRefused.wrappingAdd(1, ordering: .relaxed)
        }
    }

    func renderMetrics() -> String {
        let phase = core.readiness.phase
        return """
            # HELP gateway_open_connections Client connections open now.
            # TYPE gateway_open_connections gauge
            gateway_open_connections \(core.openConnections.load(ordering: .relaxed))
            # HELP gateway_ready Whether /readyz reports ready (1) or starting or draining (0).
            # TYPE gateway_ready gauge
            gateway_ready \(phase == .ready ? 1 : 0)
            # HELP gateway_draining Whether the server is stopping: not ready, then draining (1).
            # TYPE gateway_draining gauge
            gateway_draining \(phase == .draining ? 1 : 0)
            # HELP gateway_reloads_total Reloads of pipeline.json by result (refused: the old pipeline kept serving).
            # TYPE gateway_reloads_total counter
            gateway_reloads_total{result="ok"} \(reloadsOK.load(ordering: .relaxed))
            gateway_reloads_total{result="refused"} \(reloadsRefused.load(ordering: .relaxed))
            # HELP gateway_proxy_protocol_refused_total Connections closed before HTTP on a proxyProtocol listener, by reason.
            # TYPE gateway_proxy_protocol_refused_total counter
            gateway_proxy_protocol_refused_total{reason="untrusted"} \(core.proxyRefusedUntrusted.load(ordering: .relaxed))
            gateway_proxy_protocol_refused_total{reason="invalid"} \(core.proxyRefusedInvalid.load(ordering: .relaxed))

            """
    }
}
