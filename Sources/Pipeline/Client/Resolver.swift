import Dispatch
import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// Name resolution that never blocks an event loop: getaddrinfo runs on a Dispatch worker,
/// answers are cached briefly, and concurrent lookups of one host share one getaddrinfo, so a
/// burst of requests to one host costs one lookup. Each caller waits at most its own timeout
/// (glibc's own can be tens of seconds with an unreachable name server); the lookup goes on and
/// its answer is still cached for the next caller.
final class Resolver: Sendable {
    static let shared = Resolver()
    private let cache = Mutex<[String: (addresses: [SocketAddress], expires: UInt64)]>([:])
    private let inFlight = Mutex<[String: [Waiter]]>([:])
    private let ttl: UInt64 = 30_000

    /// One caller's continuation, resumed once: by the lookup or by its timer, whichever is first.
    final class Waiter: Sendable {
        private let continuation = Mutex<CheckedContinuation<[SocketAddress], any Error>?>(nil)
        init(_ continuation: CheckedContinuation<[SocketAddress], any Error>) { self.continuation.withLock { $0 = continuation } }
        func resume(with result: Result<[SocketAddress], any Error>) {
            continuation.withLock { slot in
                defer { slot = nil }
                return slot
            }?.resume(with: result)
        }
    }

    func resolve(_ host: String, port: Int, timeout: Duration = .seconds(30)) async throws -> [SocketAddress] {
        if let literal = SocketAddress(ip: host, port: UInt16(port)) { return [literal] }
        let now = Monotonic.now
        if let hit = cache.withLock({ $0[host] }), hit.expires > now {
            return hit.addresses.map { SocketAddress(bytes: $0.bytes, port: UInt16(port)) }
        }
        let addresses = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[SocketAddress], any Error>) in
            let waiter = Waiter(continuation)
            let first = inFlight.withLock { table -> Bool in
                table[host, default: []].append(waiter)
                return table[host]!.count == 1
            }
            if first {
                DispatchQueue.global().async { [self] in
                    let result = Result { try Resolver.lookup(host) }
                    if case .success(let addresses) = result { cache.withLock { $0[host] = (addresses, Monotonic.now + ttl) } }
                    for waiter in inFlight.withLock({ $0.removeValue(forKey: host) ?? [] }) { waiter.resume(with: result) }
                }
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.seconds * 1000))) {
                waiter.resume(with: .failure(ClientError.timeout(phase: "name resolution")))
            }
        }
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
