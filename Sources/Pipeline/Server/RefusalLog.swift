import Synchronization

/// One warning line per request or connection the codecs refuse before any stack sees it (400,
/// 408, 414, 431, 505 over HTTP/1.1; 414 and 431 over HTTP/2), with the client, the listener and
/// the reason, so an operator can see an attack. Process-wide at most `perSecond` lines a second;
/// the first line of a later second says how many were left out (`suppressed`).
enum RefusalLog {
    static let perSecond = 10

    private struct State {
        var second: UInt64 = 0
        var lines = 0
        var suppressed = 0
    }

    private static let state = Mutex(State())

    static func refused(_ info: ConnectionInfo, protocol name: String, status: Int, reason: String) {
        let second = Monotonic.now / 1000
        let (emit, suppressed): (Bool, Int) = state.withLock { state in
            if state.second != second {
                state.second = second
                state.lines = 0
            }
            guard state.lines < perSecond else {
                state.suppressed += 1
                return (false, 0)
            }
            state.lines += 1
            defer { state.suppressed = 0 }
            return (true, state.suppressed)
        }
        guard emit else { return }
        var fields = [("client", info.peerIP), ("listener", info.listener.name), ("protocol", name),
                      ("status", String(status)), ("reason", reason)]
        if suppressed > 0 { fields.append(("suppressed", String(suppressed))) }
        Log.warning("request refused", fields)
    }
}
