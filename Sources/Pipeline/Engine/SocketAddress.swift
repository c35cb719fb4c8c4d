#if canImport(Glibc)
internal import Glibc
#endif

/// An IPv4 or IPv6 address and port, convertible to and from `sockaddr`.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case v4, v6 }

    /// Address bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]
    public let port: UInt16

    public var family: Family { bytes.count == 4 ? .v4 : .v6 }

    public init(bytes: [UInt8], port: UInt16) {
        precondition(bytes.count == 4 || bytes.count == 16)
        self.bytes = bytes
        self.port = port
    }

    /// Parses an IP literal (no brackets) and a port.
    public init?(ip: String, port: UInt16) {
        var v4 = in_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            self.init(bytes: withUnsafeBytes(of: v4) { Array($0) }, port: port)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, ip, &v6) == 1 {
            self.init(bytes: withUnsafeBytes(of: v6) { Array($0) }, port: port)
            return
        }
        return nil
    }

    /// The address as text, without the port (`127.0.0.1`, `::1`).
    public var ip: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(family == .v4 ? AF_INET : AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { family == .v4 ? "\(ip):\(port)" : "[\(ip)]:\(port)" }

    /// Calls `body` with this address as a `sockaddr`.
    func withSockAddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        switch family {
        case .v4:
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &addr.sin_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6:
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &addr.sin6_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    /// A port the kernel hands out for `address` right now: a socket is bound to port 0, asked for
    /// its port and closed. For test servers that must know their ports before they listen (on
    /// loopback nothing else races for it in practice).
    public func probeFreePort() throws(SystemError) -> UInt16 {
        let fd = socket(family == .v4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.errno("socket") }
        defer { close(fd) }
        let bound = SocketAddress(bytes: bytes, port: 0).withSockAddr { bind(fd, $0, $1) }
        guard bound == 0 else { throw SystemError.errno("bind \(ip):0") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, let port = withUnsafePointer(to: &storage, { SocketAddress(storage: $0)?.port }) else {
            throw SystemError.errno("getsockname")
        }
        return port
    }

    /// Reads an address the kernel filled in.
    init?(storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let addr = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            self.init(bytes: withUnsafeBytes(of: addr.sin_addr) { Array($0) }, port: UInt16(bigEndian: addr.sin_port))
        case AF_INET6:
            let addr = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            var bytes = withUnsafeBytes(of: addr.sin6_addr) { Array($0) }
            // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; log and match it as IPv4.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { bytes = Array(bytes[12...]) }
            self.init(bytes: bytes, port: UInt16(bigEndian: addr.sin6_port))
        default:
            return nil
        }
    }

    /// Parses a listen address: `127.0.0.1:8080`, `[::1]:8443`, `localhost:8443` (both loopbacks),
    /// `:8080` or `*:8080` (every interface, IPv4 and IPv6).
    public static func listenAddresses(_ text: String) -> [SocketAddress]? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch host {
        case "", "*", "::":
            return [SocketAddress(bytes: [UInt8](repeating: 0, count: 16), port: port)]
        case "localhost":
            return [SocketAddress(ip: "127.0.0.1", port: port)!, SocketAddress(ip: "::1", port: port)!]
        default:
            return SocketAddress(ip: host, port: port).map { [$0] }
        }
    }
}

/// An address range such as `10.0.0.0/8` or `::1/128`; a bare address is a range of one.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let network: [UInt8]
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = SocketAddress(ip: String(parts[0]), port: 0) else { return nil }
        let bits = address.bytes.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...bits).contains(prefix) else { return nil }
            self.prefix = prefix
        } else {
            prefix = bits
        }
        network = address.bytes
    }

    public func contains(_ address: SocketAddress) -> Bool {
        guard address.bytes.count == network.count else { return false }
        var remaining = prefix
        for i in 0..<network.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if network[i] & mask != address.bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(SocketAddress(bytes: network, port: 0).ip)/\(prefix)" }
}
