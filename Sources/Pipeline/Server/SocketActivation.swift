// sys/socket.h's SOCK_* constants: Glibc alone does not always make them visible in this file.
internal import CSystemShims
#if canImport(Glibc)
internal import Glibc
#endif

/// A listening socket a service manager passed in (sd_listen_fds(3)): a systemd socket unit,
/// `systemd-socket-activate`. The listener whose address it is bound to uses it instead of binding.
public struct InheritedSocket: Sendable {
    public let fd: Int32
    /// The address it is bound to (`getsockname`).
    public let address: SocketAddress
    /// Its name from `LISTEN_FDNAMES` (systemd `FileDescriptorName=`), if any.
    public let name: String?
}

/// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` once at start.
public enum SocketActivation {
    /// The first passed descriptor (SD_LISTEN_FDS_START).
    static let firstDescriptor: Int32 = 3

    /// The listening TCP sockets passed to this process, made non-blocking and close-on-exec; the
    /// variables are unset so children do not take them for theirs. Descriptors that are not
    /// listening TCP sockets are left alone and logged.
    public static func takeInherited() -> [InheritedSocket] {
        // LISTEN_PID names this process (systemd), or the parent that started it handed its sockets over.
        let listenPID = getenv("LISTEN_PID").map { pid_t(String(cString: $0)) }
        let forUs = listenPID.map { $0 == getpid() } ?? (ProcessHandover.predecessor != nil)
        guard forUs, let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int32(countText), count > 0 else {
            return []
        }
        let names = getenv("LISTEN_FDNAMES").map { String(cString: $0).split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        var result: [InheritedSocket] = []
        for index in 0..<count {
            let fd = firstDescriptor + index
            let name = Int(index) < names.count ? names[Int(index)] : nil
            guard let address = listeningAddress(fd) else {
                Log.warning("a passed descriptor is not a listening TCP socket; ignored", [("fd", String(fd)), ("name", name ?? "")])
                continue
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            result.append(InheritedSocket(fd: fd, address: address, name: name))
        }
        return result
    }

    /// The bound address of `fd` if it is a listening stream socket of IPv4 or IPv6.
    private static func listeningAddress(_ fd: Int32) -> SocketAddress? {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &size) == 0, value == Int32(SOCK_STREAM.rawValue) else { return nil }
        size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &size) == 0, value == 1 else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return withUnsafePointer(to: &storage) { SocketAddress(storage: $0) }
    }
}
