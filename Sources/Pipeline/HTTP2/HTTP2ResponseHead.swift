internal import CNghttp2

/// A response head (or trailers) as HTTP/2 header fields: `:status` first, names lower-cased
/// (RFC 9113 §8.2.1), connection-specific fields dropped (§8.2.2), CR, LF and NUL removed from
/// values, `date` added when missing and `content-length` taken from the body as HTTP/1.1 does.
/// Names and values sit back to back in one array that nghttp2 copies on submit.
struct HTTP2ResponseHead {
    private var bytes: [UInt8] = []
    private var ranges: [(name: Range<Int>, value: Range<Int>)] = []

    /// Fields the codec owns; a middleware's copy is dropped.
    static let dropped: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
                                       "content-length"]

    /// The head of a response with `status`. `length` is the body length to announce, if known;
    /// `date` is left out when empty (interim responses).
    init(status: Int, headers: HTTPFields, length: Int?, date: [UInt8]) {
        bytes.reserveCapacity(256)
        append(":status", Array(String(status).utf8))
        var hasDate = false
        for field in headers {
            let name = field.name.lowercasedASCII()
            if Self.dropped.contains(name) { continue }
            if name == "date" { hasDate = true }
            append(name, Array(field.value.utf8))
        }
        if !hasDate, !date.isEmpty { append("date", date) }
        if let length, status >= 200, status != 204 { append("content-length", Array(String(length).utf8)) }
    }

    /// Trailer fields: no pseudo-fields, the same name rules.
    init(trailers: HTTPFields) {
        for field in trailers {
            let name = field.name.lowercasedASCII()
            if Self.dropped.contains(name) || name.hasPrefix(":") { continue }
            append(name, Array(field.value.utf8))
        }
    }

    private mutating func append(_ name: String, _ value: [UInt8]) {
        let nameStart = bytes.count
        bytes += name.utf8
        let valueStart = bytes.count
        // A value with CR, LF or NUL would be rejected by the client or split the message downstream.
        for byte in value where byte != 0x0D && byte != 0x0A && byte != 0 { bytes.append(byte) }
        ranges.append((nameStart..<valueStart, valueStart..<bytes.count))
    }

    /// The fields as strings, in order (for tests and logs).
    var fields: [(name: String, value: String)] {
        ranges.map { (String(decoding: bytes[$0.name], as: UTF8.self), String(decoding: bytes[$0.value], as: UTF8.self)) }
    }

    var isEmpty: Bool { ranges.isEmpty }

    /// Calls `body` with an `nghttp2_nv` array pointing into this head; nghttp2 copies it.
    func withNameValues<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeMutablePointer(mutating: buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            let nva = ranges.map { range in
                nghttp2_nv(name: base + range.name.lowerBound, value: base + range.value.lowerBound,
                           namelen: range.name.count, valuelen: range.value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
