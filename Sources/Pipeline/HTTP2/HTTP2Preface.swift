/// The client connection preface of HTTP/2 (RFC 9113 §3.4), which tells an h2c client with prior
/// knowledge apart from an HTTP/1.1 one on a plain listener.
enum HTTP2Preface {
    static let bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Whether `prefix` is, or could still become, the preface: nil while undecided.
    static func matches(_ prefix: UnsafeRawBufferPointer) -> Bool? {
        let count = min(prefix.count, bytes.count)
        for i in 0..<count where prefix[i] != bytes[i] { return false }
        return prefix.count >= bytes.count ? true : nil
    }

    /// Reads into `buffer` until the first bytes decide; nil when the client left or took too long.
    /// The bytes stay in `buffer` for whichever codec takes the connection.
    static func sniff(_ transport: any Transport, into buffer: ByteBuffer, deadline: UInt64) async -> Bool? {
        while true {
            if buffer.readableBytes > 0, let decided = matches(buffer.readable) { return decided }
            guard let n = try? await transport.read(into: buffer, deadline: deadline), n > 0 else { return nil }
        }
    }
}
