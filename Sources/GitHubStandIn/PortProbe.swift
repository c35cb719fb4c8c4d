import Foundation
import Pipeline

/// Free ports for the listeners when the caller asked for any. The server keys its sockets by
/// address, so four listeners cannot all bind `host:0`; each gets a port the kernel just handed
/// out instead (the probe socket is closed first; on loopback nothing else races for it in practice).
enum PortProbe {
    static func freePort(host: String) throws -> Int {
        guard let address = SocketAddress.listenAddresses("\(host):0")?.first else { throw StandInError("bad host \(host)") }
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StandInError("socket failed") }
        defer { close(fd) }
        let bound = address.withSockAddr { bind(fd, $0, $1) }
        guard bound == 0 else { throw StandInError("cannot bind \(host):0") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, let port = withUnsafePointer(to: &storage, { SocketAddress(storage: $0)?.port }) else {
            throw StandInError("getsockname failed")
        }
        return Int(port)
    }
}
