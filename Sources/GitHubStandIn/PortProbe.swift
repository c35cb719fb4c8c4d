import Pipeline

/// Free ports for the listeners when the caller asked for any. The server keys its sockets by
/// address, so four listeners cannot all bind `host:0`; each gets a port the kernel just handed
/// out instead (the probe socket is closed first; on loopback nothing else races for it in practice).
enum PortProbe {
    static func freePort(host: String) throws -> Int {
        guard let address = SocketAddress.listenAddresses("\(host):0")?.first else { throw StandInError("bad host \(host)") }
        do {
            return Int(try address.probeFreePort())
        } catch {
            throw StandInError("cannot find a free port on \(host): \(error)")
        }
    }
}
