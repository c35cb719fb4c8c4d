internal import CSystemShims
import Synchronization
#if canImport(Glibc)
internal import Glibc
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

    /// A socket a service manager bound and passed in (socket activation): used as it is.
    init(adopting inherited: InheritedSocket, config: ListenerConfig) {
        fd = inherited.fd
        address = inherited.address
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
/// connection to a loop in turn. Loop-confined.
final class Acceptor: Selectable, Expiring {
    let socket: ListenerSocket
    unowned let loop: EventLoop
    let server: Server
    private var registration: UInt64 = 0
    /// Out of descriptors: off epoll until `resumeAt` (the listener is level-triggered, so staying
    /// registered would wake the loop at once, over and over, while the connection waits in the backlog).
    private var paused = false
    private var resumeAt: UInt64 = 0
    private var retired = false
    private var lastLogged: UInt64?
    static let pauseMilliseconds: UInt64 = 250
    static let logEveryMilliseconds: UInt64 = 10_000

    init(socket: ListenerSocket, loop: EventLoop, server: Server) throws {
        self.socket = socket
        self.loop = loop
        self.server = server
        registration = try loop.register(socket.fd, self, listener: true)
    }

    func deregister() {
        retired = true
        loop.untrack(self)
        if !paused { loop.deregister(socket.fd, id: registration) }
    }

    private func pause(_ code: Int32) {
        paused = true
        loop.deregister(socket.fd, id: registration)
        let now = Monotonic.now
        resumeAt = now + Self.pauseMilliseconds
        loop.track(self)
        if lastLogged.map({ now &- $0 >= Self.logEveryMilliseconds }) ?? true {
            lastLogged = now
            Log.error("accept: out of file descriptors; pausing this listener", [
                ("listener", socket.current.name), ("reason", String(cString: strerror(code))),
                ("retry", "\(Self.pauseMilliseconds)ms"),
            ])
        }
    }

    func expire(now: UInt64) {
        guard paused, now >= resumeAt else { return }
        if retired {
            loop.untrack(self)
            return
        }
        guard let id = try? loop.register(socket.fd, self, listener: true) else {
            resumeAt = now + Self.pauseMilliseconds
            return
        }
        registration = id
        paused = false
        loop.untrack(self)
    }

    func ready(_ events: UInt32) {
        // Level-triggered: a cap per wake-up keeps one busy listener from starving the loop.
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { csys_accept4(socket.fd, $0, &length) }
            }
            if fd < 0 {
                let code = errno
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM { pause(code) }
                return
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let peer = withUnsafePointer(to: &storage) { SocketAddress(storage: $0) } ?? SocketAddress(bytes: [0, 0, 0, 0], port: 0)
            server.adopt(fd: fd, peer: peer, listener: socket)
        }
    }
}
