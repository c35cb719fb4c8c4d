internal import CNghttp2

/// A response head (or trailers) as HTTP/2 header fields: `:status` first, names lower-cased
/// (RFC 9113 §8.2.1), connection-specific fields dropped (§8.2.2), CR, LF and NUL removed from
/// values, `date` added when missing and `content-length` taken from the body as HTTP/1.1 does.
/// Names and values sit back to back in one array that nghttp2 copies on submit; they are written
/// there as bytes straight from the fields (one per request: no intermediate strings or arrays).
struct HTTP2ResponseHead {
    private var bytes: [UInt8] = []
    private var ranges: [(name: Range<Int>, value: Range<Int>)] = []

    // Fields the codec owns (a middleware's copy is dropped): connection, keep-alive,
    // proxy-connection, transfer-encoding, upgrade, te and content-length; see `kind`.

    /// The head of a response with `status`. `length` is the body length to announce, if known;
    /// `date` is left out when empty (interim responses).
    init(status: Int, headers: HTTPFields, length: Int?, date: [UInt8]) {
        bytes.reserveCapacity(128 + headers.count * 48)
        ranges.reserveCapacity(headers.count + 3)
        appendName(":status")
        appendDecimal(status)
        var hasDate = false
        for field in headers {
            guard let isDate = appendName(lowercasing: field.name) else { continue }
            if isDate { hasDate = true }
            appendValue(field.value)
        }
        if !hasDate, !date.isEmpty {
            appendName("date")
            let start = bytes.count
            bytes += date
            ranges[ranges.count - 1].value = start..<bytes.count
        }
        if let length, status >= 200, status != 204 {
            appendName("content-length")
            appendDecimal(length)
        }
    }

    /// Trailer fields: no pseudo-fields, the same name rules.
    init(trailers: HTTPFields) {
        for field in trailers where !field.name.hasPrefix(":") {
            guard appendName(lowercasing: field.name) != nil else { continue }
            appendValue(field.value)
        }
    }

    /// Starts a field whose name is known to be lower-case and allowed.
    private mutating func appendName(_ name: StaticString) {
        let start = bytes.count
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        ranges.append((start..<bytes.count, bytes.count..<bytes.count))
    }

    /// Starts a field named `name`, lower-cased; nil (and nothing kept) for a connection-specific
    /// name, otherwise whether it is `date`.
    private mutating func appendName(lowercasing name: String) -> Bool? {
        var name = name
        return name.withUTF8 { utf8 in
            switch Self.kind(utf8) {
            case .dropped: return nil
            case .date: appendLowercased(utf8); return true
            case .other: appendLowercased(utf8); return false
            }
        }
    }

    private mutating func appendLowercased(_ utf8: UnsafeBufferPointer<UInt8>) {
        let start = bytes.count
        bytes.append(contentsOf: utf8)
        bytes.withUnsafeMutableBufferPointer { all in
            for index in start..<all.count where all[index] >= 65 && all[index] <= 90 { all[index] |= 0x20 }
        }
        ranges.append((start..<bytes.count, bytes.count..<bytes.count))
    }

    private enum NameKind { case dropped, date, other }

    /// What a field name is to the codec, ignoring ASCII case; told by its length first (this runs
    /// for every field of every response).
    private static func kind(_ name: UnsafeBufferPointer<UInt8>) -> NameKind {
        func named(_ literal: StaticString) -> Bool {
            guard name.count == literal.utf8CodeUnitCount else { return false }
            let expected = literal.utf8Start
            for index in 0..<name.count {
                let byte = name[index]
                if (byte >= 65 && byte <= 90 ? byte | 0x20 : byte) != expected[index] { return false }
            }
            return true
        }
        switch name.count {
        case 2: return named("te") ? .dropped : .other
        case 4: return named("date") ? .date : .other
        case 7: return named("upgrade") ? .dropped : .other
        case 10: return named("connection") || named("keep-alive") ? .dropped : .other
        case 14: return named("content-length") ? .dropped : .other
        case 16: return named("proxy-connection") ? .dropped : .other
        case 17: return named("transfer-encoding") ? .dropped : .other
        default: return .other
        }
    }

    /// The value of the field just started. A value with CR, LF or NUL would be rejected by the
    /// client or split the message downstream: those bytes are left out.
    private mutating func appendValue(_ value: String) {
        let start = bytes.count
        let copied: Bool? = value.utf8.withContiguousStorageIfAvailable { utf8 in
            guard !utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if copied != true {
            for byte in value.utf8 where byte != 0x0D && byte != 0x0A && byte != 0 { bytes.append(byte) }
        }
        ranges[ranges.count - 1].value = start..<bytes.count
    }

    /// The value of the field just started: `number` in decimal.
    private mutating func appendDecimal(_ number: Int) {
        let start = bytes.count
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        let digitsStart = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[digitsStart...].reverse()
        ranges[ranges.count - 1].value = start..<bytes.count
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
            return withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(1, ranges.count)) { nva in
                for (index, range) in ranges.enumerated() {
                    nva.initializeElement(at: index, to: nghttp2_nv(
                        name: base + range.name.lowerBound, value: base + range.value.lowerBound,
                        namelen: range.name.count, valuelen: range.value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                }
                return body(UnsafePointer(nva.baseAddress!), ranges.count)
            }
        }
    }
}
