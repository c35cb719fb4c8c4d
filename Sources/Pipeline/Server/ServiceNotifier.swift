// sys/socket.h's SOCK_* constants: Glibc alone does not always make them visible in this file.
internal import CSystemShims
#if canImport(Glibc)
internal import Glibc
#endif

/// systemd's notify protocol (sd_notify(3)) without libsystemd: one datagram of `KEY=VALUE` lines
/// to the AF_UNIX socket in `$NOTIFY_SOCKET` (a leading `@` is the abstract namespace). Without
/// the variable (not under a notify-aware manager) nothing is sent.
///
/// ```swift
/// ServiceNotifier.notify("READY=1\nSTATUS=serving")
/// ServiceNotifier.notify("RELOADING=1\nMONOTONIC_USEC=\(ServiceNotifier.monotonicMicroseconds)")
/// ```
public enum ServiceNotifier {
    /// Read once: the process's own messages all go to the manager that started it.
    private static let socketPath: String? = {
        guard let value = getenv("NOTIFY_SOCKET") else { return nil }
        let path = String(cString: value)
        return path.isEmpty ? nil : path
    }()

    /// Whether a manager listens (for a log line at start).
    public static var isActive: Bool { socketPath != nil }

    /// CLOCK_MONOTONIC in microseconds, as `RELOADING=1` wants it in `MONOTONIC_USEC`.
    public static var monotonicMicroseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// Sends `state` (newline-separated assignments); failures are logged at debug level only:
    /// a manager that went away must not stop the gateway.
    public static func notify(_ state: String) {
        guard let path = socketPath else { return }
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity, bytes.first == 0 || bytes.first == UInt8(ascii: "/") else {
            Log.debug("NOTIFY_SOCKET is not a UNIX socket path", [("value", path)])
            return
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        // An abstract name is exactly its bytes; a path ends at its NUL.
        let length = MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), $0, socklen_t(length))
            }
        }
        if sent < 0 { Log.debug("notify failed", [("socket", path), ("reason", String(cString: strerror(errno)))]) }
    }
}
