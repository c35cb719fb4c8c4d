import CSystemShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bound, listening socket shared by every loop (EPOLLEXCLUSIVE wakes one), and the listener
/// config new connections on it get. The config is swapped on reload; the socket stays open.
final class ListenerSocket: Sendable {
    let fd: Int32
    let address: SocketAddress
    private let config: Mutex<ListenerConfig>
    private let closed = Atomic<Bool>(false)

    init(address: SocketAddress, config: ListenerConfig) throws {
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.errno("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // "[::]" listens for IPv4 too; a specific IPv6 address only for itself.
            var v6only: Int32 = address.bytes.allSatisfy { $0 == 0 } ? 0 : 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = address.withSockAddr { bind(fd, $0, $1) }
        guard bound == 0 else {
            let error = SystemError.errno("bind \(address)")
            Glibc.close(fd)
            throw error
        }
        guard listen(fd, 4096) == 0 else {
            let error = SystemError.errno("listen \(address)")
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
        self.address = address
        self.config = Mutex(config)
    }

    var current: ListenerConfig {
        get { config.withLock { $0 } }
    }

    func update(_ new: ListenerConfig) { config.withLock { $0 = new } }

    /// The port the kernel chose, for listeners bound to port 0.
    var boundPort: UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return address.port }
        return withUnsafePointer(to: &storage) { SocketAddress(storage: $0)?.port ?? address.port }
    }

    /// The address with the port actually bound.
    var boundAddress: SocketAddress { SocketAddress(bytes: address.bytes, port: boundPort) }

    /// Closes the socket once; later calls do nothing (a second close would hit whatever
    /// descriptor has reused the number by then).
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(fd)
    }
}

/// A listening socket's registration on one loop: accepts what epoll reports and hands each
/// connection to a loop in turn.
final class Acceptor: Selectable {
    let socket: ListenerSocket
    unowned let loop: EventLoop
    let server: Server
    private var registration: UInt64 = 0

    init(socket: ListenerSocket, loop: EventLoop, server: Server) throws {
        self.socket = socket
        self.loop = loop
        self.server = server
        registration = try loop.register(socket.fd, self, listener: true)
    }

    func deregister() { loop.deregister(socket.fd, id: registration) }

    func ready(_ events: UInt32) {
        // Level-triggered: a cap per wake-up keeps one busy listener from starving the loop.
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { csys_accept4(socket.fd, $0, &length) }
            }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE { Log.error("accept: out of file descriptors") }
                return
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let peer = withUnsafePointer(to: &storage) { SocketAddress(storage: $0) } ?? SocketAddress(bytes: [0, 0, 0, 0], port: 0)
            server.adopt(fd: fd, peer: peer, listener: socket)
        }
    }
}
