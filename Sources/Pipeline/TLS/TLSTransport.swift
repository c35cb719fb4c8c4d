internal import COpenSSL
#if canImport(Glibc)
internal import Glibc
#endif

/// A TLS connection over a non-blocking socket, server or client side: SSL_read/SSL_write with
/// WANT_READ and WANT_WRITE turned into awaits on the socket (proxy.md §3.1).
final class TLSTransport: Transport {
    let io: SocketIO
    private let ssl: OpaquePointer
    /// Keeps the SSL_CTX (and the callbacks' context) alive as long as the connection.
    private let owner: AnyObject
    /// The client side reads a TCP reset as an error, never as the end of the stream: an upstream
    /// body that ends when the connection does would otherwise look complete when it was cut.
    private let isClient: Bool
    private(set) var negotiatedProtocol: String?
    private(set) var tlsVersion: String?
    var supportsSendfile: Bool { false }

    /// The server side of a connection accepted on a TLS listener.
    convenience init(io: SocketIO, context: TLSServerContext) throws {
        guard let ssl = context.makeSSL() else { throw TLSError("SSL_new failed: \(OpenSSLError.drain())") }
        self.init(io: io, ssl: ssl, owner: context, client: false)
    }

    /// Takes ownership of `ssl`, already configured (SNI, verification) by its owner.
    init(io: SocketIO, ssl: OpaquePointer, owner: AnyObject, client: Bool) {
        self.io = io
        self.ssl = ssl
        self.owner = owner
        isClient = client
        SSL_set_fd(ssl, io.fd)
        if client { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
    }

    /// Why certificate verification failed, for a client handshake error message.
    var verificationFailure: String? {
        let result = SSL_get_verify_result(ssl)
        guard result != X509_V_OK else { return nil }
        return String(cString: X509_verify_cert_error_string(result))
    }

    deinit { SSL_free(ssl) }

    /// Completes the handshake by `deadline`.
    func handshake(deadline: UInt64) async throws {
        while true {
            ERR_clear_error()
            let rc = SSL_do_handshake(ssl)
            if rc == 1 { break }
            try await wait(for: SSL_get_error(ssl, rc), deadline: deadline, during: "handshake")
        }
        tlsVersion = String(cString: SSL_get_version(ssl))
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        if let data, length > 0 {
            negotiatedProtocol = String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
        }
    }

    private func wait(for error: Int32, deadline: UInt64, during operation: String) async throws {
        switch error {
        case SSL_ERROR_WANT_READ: try await io.waitReadable(deadline: deadline)
        case SSL_ERROR_WANT_WRITE: try await io.waitWritable(deadline: deadline)
        case SSL_ERROR_ZERO_RETURN: throw IOError.closed
        case SSL_ERROR_SYSCALL:
            let code = errno
            ERR_clear_error()
            throw code == 0 || code == ECONNRESET || code == EPIPE ? IOError.connectionReset : SystemError(call: "TLS \(operation)", code: code)
        default:
            if let failure = verificationFailure { throw TLSError("TLS \(operation) failed: certificate \(failure)") }
            throw TLSError("TLS \(operation) failed: \(OpenSSLError.drain())")
        }
    }

    func awaitInput(deadline: UInt64) async throws {
        // Bytes OpenSSL already holds (a decrypted rest, a record read ahead) are input too.
        if SSL_has_pending(ssl) == 1 { return }
        try await io.awaitInput(deadline: deadline)
    }

    func read(into buffer: ByteBuffer, deadline: UInt64) async throws -> Int {
        if buffer.writableBytes < 4096 { buffer.reserveWritable(16 * 1024) }
        while true {
            ERR_clear_error()
            let space = buffer.writable
            let n = SSL_read(ssl, space.baseAddress, Int32(min(space.count, Int(Int32.max))))
            if n > 0 {
                buffer.moveWriterIndex(by: Int(n))
                return Int(n)
            }
            let error = SSL_get_error(ssl, n)
            if error == SSL_ERROR_ZERO_RETURN { return 0 }
            if error == SSL_ERROR_SYSCALL, errno == 0 || errno == ECONNRESET {
                ERR_clear_error()
                if isClient { throw IOError.connectionReset }
                return 0
            }
            try await wait(for: error, deadline: deadline, during: "read")
        }
    }

    func readNow(into space: UnsafeMutableRawBufferPointer) throws -> ImmediateRead {
        ERR_clear_error()
        let n = SSL_read(ssl, space.baseAddress, Int32(min(space.count, Int(Int32.max))))
        if n > 0 { return .bytes(Int(n)) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where errno == 0 || errno == ECONNRESET:
            ERR_clear_error()
            if isClient { throw IOError.connectionReset }
            return .closed
        case let error:
            if error == SSL_ERROR_SYSCALL { throw SystemError(call: "TLS read", code: errno) }
            throw TLSError("TLS read failed: \(OpenSSLError.drain())")
        }
    }

    func write(_ bytes: [UInt8], _ more: [UInt8], deadline: UInt64) async throws {
        // Small pieces are joined so the head and the first chunk share one TLS record.
        if !more.isEmpty, bytes.count + more.count <= 16 * 1024 {
            try await writeAll(bytes + more, deadline: deadline)
            return
        }
        try await writeAll(bytes, deadline: deadline)
        try await writeAll(more, deadline: deadline)
    }

    private func writeAll(_ bytes: [UInt8], deadline: UInt64) async throws {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = bytes.withUnsafeBytes { raw in
                SSL_write(ssl, raw.baseAddress! + offset, Int32(min(raw.count - offset, 1 << 30)))
            }
            if n > 0 {
                offset += Int(n)
                continue
            }
            // SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the retry pass the same bytes from a new address.
            try await wait(for: SSL_get_error(ssl, n), deadline: deadline, during: "write")
        }
    }

    func close() {
        sendCloseNotify()
        io.close()
    }

    func finishWriting() {
        sendCloseNotify()
        io.shutdownWrite()
    }

    private var sentCloseNotify = false

    private func sendCloseNotify() {
        guard !io.isClosed, !sentCloseNotify else { return }
        sentCloseNotify = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }
}

/// A TLS failure, described without secrets.
struct TLSError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
