#if canImport(Glibc)
internal import Glibc
#endif

/// Takes a PROXY protocol header off a freshly accepted socket, before TLS or HTTP see it.
///
/// It peeks until `ProxyHeaderParser.headerLength` knows the header's length, then reads exactly
/// that many bytes, so whatever the balancer sent after the header (a TLS ClientHello, a request)
/// stays in the socket for the next reader.
enum ProxyHeaderReader {
    /// How long a balancer may take to send the header (proxy-protocol.txt: at least 3 s).
    static let timeout: Duration = .seconds(5)
    /// Enough to see a whole v1 line or a v2 prefix.
    static let peekWindow = 256

    static func read(_ io: SocketIO, deadline: UInt64) async throws -> ProxyHeader {
        let window = UnsafeMutableRawBufferPointer.allocate(byteCount: peekWindow, alignment: 1)
        defer { window.deallocate() }
        var seen = -1
        var total = 0
        while true {
            if io.isClosed { throw IOError.closed }
            let n = recv(io.fd, window.baseAddress, window.count, Int32(MSG_PEEK))
            if n == 0 { throw ProxyHeaderError.truncated }
            if n < 0 {
                switch errno {
                case EAGAIN: try await io.waitReadable(deadline: deadline)
                case EINTR: break
                case ECONNRESET: throw IOError.connectionReset
                default: throw SystemError.errno("recv")
                }
                continue
            }
            if let length = try ProxyHeaderParser.headerLength(UnsafeRawBufferPointer(rebasing: window[..<n])) {
                total = length
                break
            }
            // Peeking shows buffered bytes again and again: a wake-up that brought nothing new
            // is the peer closing (or resetting) mid-header.
            if n == seen, peerHasClosed(io.fd) { throw ProxyHeaderError.truncated }
            seen = n
            try await io.waitReadable(deadline: deadline)
        }
        var header = [UInt8](repeating: 0, count: total)
        var got = 0
        while got < total {
            if io.isClosed { throw IOError.closed }
            let n = header.withUnsafeMutableBytes { recv(io.fd, $0.baseAddress! + got, total - got, 0) }
            if n > 0 {
                got += n
                continue
            }
            if n == 0 { throw ProxyHeaderError.truncated }
            switch errno {
            case EAGAIN: try await io.waitReadable(deadline: deadline)
            case EINTR: continue
            case ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("recv")
            }
        }
        return try header.withUnsafeBytes { bytes throws(ProxyHeaderError) in try ProxyHeaderParser.parse(bytes) }
    }

    /// Whether the peer has shut down its side (POLLRDHUP) or the socket failed, without waiting.
    private static func peerHasClosed(_ fd: Int32) -> Bool {
        // POLLRDHUP is hidden without _GNU_SOURCE; Linux's value.
        let rdhup: Int16 = 0x2000
        var entry = pollfd(fd: fd, events: Int16(POLLIN) | rdhup, revents: 0)
        guard poll(&entry, 1, 0) == 1 else { return false }
        return entry.revents & (rdhup | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }
}
