import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Name resolution that never blocks an event loop: getaddrinfo runs on a Dispatch worker and
/// answers are cached briefly, so a burst of requests to one host costs one lookup.
final class Resolver: Sendable {
    static let shared = Resolver()
    private let cache = Mutex<[String: (addresses: [SocketAddress], expires: UInt64)]>([:])
    private let ttl: UInt64 = 30_000

    func resolve(_ host: String, port: Int) async throws -> [SocketAddress] {
        if let literal = SocketAddress(ip: host, port: UInt16(port)) { return [literal] }
        let now = Monotonic.now
        if let hit = cache.withLock({ $0[host] }), hit.expires > now {
            return hit.addresses.map { SocketAddress(bytes: $0.bytes, port: UInt16(port)) }
        }
        let addresses = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[SocketAddress], any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Resolver.lookup(host) })
            }
        }
        cache.withLock { $0[host] = (addresses, Monotonic.now + ttl) }
        return addresses.map { SocketAddress(bytes: $0.bytes, port: UInt16(port)) }
    }

    private static func lookup(_ host: String) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &result)
        guard rc == 0, let first = result else {
            throw ClientError.resolve(host: host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ai_addr {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(entry.pointee.ai_addrlen))) }
                if let address = withUnsafePointer(to: &storage, { SocketAddress(storage: $0) }), !addresses.contains(address) {
                    addresses.append(address)
                }
            }
            cursor = entry.pointee.ai_next
        }
        // IPv4 first: loopback services in tests and most upstreams listen there.
        return addresses.filter { $0.family == .v4 } + addresses.filter { $0.family == .v6 }
    }
}
