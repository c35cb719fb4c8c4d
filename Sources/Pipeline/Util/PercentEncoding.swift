/// Percent-encoding per RFC 3986 §2.1.
public enum PercentEncoding {
    /// Decodes `%XX` escapes. Nil when an escape is malformed or the result is not UTF-8 or holds NUL,
    /// so traversal tricks such as `%2e%2e` or `%00` cannot slip through as something else.
    public static func decode(_ string: some StringProtocol) -> String? {
        // Most paths have no escape: checked over the contiguous bytes, without copying them
        // (through the generic view this took longer than the decoding it avoids).
        var text = String(string)
        let escaped = text.withUTF8 { $0.contains(UInt8(ascii: "%")) }
        guard escaped else {
            return text.withUTF8 { $0.contains(0) } ? nil : text
        }
        let utf8 = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            let byte = utf8[i]
            if byte == UInt8(ascii: "%") {
                guard i + 2 < utf8.count, let hi = hexValue(utf8[i + 1]), let lo = hexValue(utf8[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(byte)
                i += 1
            }
        }
        guard !out.contains(0), let decoded = String(validating: out, as: UTF8.self) else { return nil }
        return decoded
    }

    /// Characters left alone in a path segment (RFC 3986 unreserved plus sub-delims, ':' and '@').
    public static func encodePathSegment(_ string: String) -> String {
        encode(string) { byte in
            isUnreserved(byte) || "!$&'()*+,;=:@".utf8.contains(byte)
        }
    }

    /// Encodes everything but unreserved characters: for query values and form fields.
    public static func encodeComponent(_ string: String) -> String {
        encode(string, keep: isUnreserved)
    }

    /// Encodes a path, keeping '/' separators.
    public static func encodePath(_ string: String) -> String {
        string.split(separator: "/", omittingEmptySubsequences: false).map { encodePathSegment(String($0)) }.joined(separator: "/")
    }

    static func encode(_ string: String, keep: (UInt8) -> Bool) -> String {
        var out: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in string.utf8 {
            if keep(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
