#if canImport(Glibc)
internal import Glibc
#endif

/// A byte stream to a client: a plain socket or TLS over one.
protocol Transport: AnyObject {
    var io: SocketIO { get }
    /// `TLSv1.3`/`TLSv1.2`, or nil on plain sockets.
    var tlsVersion: String? { get }
    /// The ALPN protocol chosen in the handshake, if any.
    var negotiatedProtocol: String? { get }
    /// Whether file bodies may go out with sendfile(2) (plain sockets only).
    var supportsSendfile: Bool { get }

    /// Reads into `buffer`'s free space; 0 means the peer closed.
    func read(into buffer: ByteBuffer, deadline: UInt64) async throws -> Int
    /// Waits until a read would find bytes (or the end), holding no buffer meanwhile: how an idle
    /// connection waits for its next request.
    func awaitInput(deadline: UInt64) async throws
    /// Reads what is available right now straight into `space` (a body chunk's own storage), without waiting.
    func readNow(into space: UnsafeMutableRawBufferPointer) throws -> ImmediateRead
    /// Writes all of `bytes` and then `more`.
    func write(_ bytes: [UInt8], _ more: [UInt8], deadline: UInt64) async throws
    /// Closes the connection (TLS sends close_notify first, without waiting).
    func close()
    /// Ends the sending side (TLS close_notify, then FIN) while reads may go on.
    func finishWriting()
}

/// What a read that may not wait found.
enum ImmediateRead {
    case bytes(Int)
    case closed
    /// Nothing yet: wait until the socket is readable (or, for TLS, writable) and try again.
    case wantRead
    case wantWrite
}

/// A plain TCP connection.
final class PlainTransport: Transport {
    let io: SocketIO
    var tlsVersion: String? { nil }
    var negotiatedProtocol: String? { nil }
    var supportsSendfile: Bool { true }

    init(io: SocketIO) { self.io = io }

    func read(into buffer: ByteBuffer, deadline: UInt64) async throws -> Int {
        try await io.read(into: buffer, deadline: deadline)
    }

    func awaitInput(deadline: UInt64) async throws { try await io.awaitInput(deadline: deadline) }

    func readNow(into space: UnsafeMutableRawBufferPointer) throws -> ImmediateRead {
        while true {
            if io.isClosed { throw IOError.closed }
            let n = recv(io.fd, space.baseAddress, space.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            switch errno {
            case EAGAIN: return .wantRead
            case EINTR: continue
            case ECONNRESET: throw IOError.connectionReset
            default: throw SystemError.errno("recv")
            }
        }
    }

    func write(_ bytes: [UInt8], _ more: [UInt8], deadline: UInt64) async throws {
        try await io.write(bytes, more, deadline: deadline)
    }

    func close() { io.close() }

    func finishWriting() { io.shutdownWrite() }
}
