/// Just enough HPACK (RFC 7541) for tests: header fields encoded as literals without indexing and
/// without Huffman coding, and `:status` read back from a response block. The client announces a
/// header table size of 0, so the server's blocks never refer to a dynamic table.
public enum HPACKLite {
    /// Encodes fields as "literal header field without indexing — new name" (§6.2.2).
    public static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0x00)
            out += integer(name.utf8.count, prefixBits: 7, flags: 0)
            out += name.utf8
            out += integer(value.utf8.count, prefixBits: 7, flags: 0)
            out += value.utf8
        }
        return out
    }

    /// An HPACK integer with an N-bit prefix (§5.1).
    public static func integer(_ value: Int, prefixBits: Int, flags: UInt8) -> [UInt8] {
        let limit = (1 << prefixBits) - 1
        if value < limit { return [flags | UInt8(value)] }
        var out = [flags | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        out.append(UInt8(rest))
        return out
    }

    static let staticStatus: [Int: Int] = [8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500]

    /// The `:status` of a response header block (the first field nghttp2 writes), or nil.
    public static func status(of block: [UInt8]) -> Int? {
        var i = 0
        while i < block.count {
            let byte = block[i]
            if byte & 0x80 != 0 {  // indexed field
                let (index, next) = readInteger(block, at: i, prefixBits: 7)
                i = next
                if let status = staticStatus[index] { return status }
                continue
            }
            if byte & 0xE0 == 0x20 {  // dynamic table size update
                i = readInteger(block, at: i, prefixBits: 5).1
                continue
            }
            let prefix = byte & 0x40 != 0 ? 6 : 4
            let (nameIndex, afterName) = readInteger(block, at: i, prefixBits: prefix)
            i = afterName
            var isStatus = nameIndex >= 8 && nameIndex <= 14
            if nameIndex == 0 {
                let (name, next) = readString(block, at: i)
                i = next
                isStatus = name == Array(":status".utf8)
            }
            let (value, next) = readString(block, at: i)
            i = next
            if isStatus { return Int(String(decoding: value, as: UTF8.self)) }
        }
        return nil
    }

    static func readInteger(_ bytes: [UInt8], at start: Int, prefixBits: Int) -> (Int, Int) {
        let limit = (1 << prefixBits) - 1
        var value = Int(bytes[start]) & limit
        var i = start + 1
        if value < limit { return (value, i) }
        var shift = 0
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            value += Int(byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 { break }
        }
        return (value, i)
    }

    /// A string literal; Huffman-coded ones are decoded only for digits (all a status needs).
    static func readString(_ bytes: [UInt8], at start: Int) -> ([UInt8], Int) {
        let huffman = bytes[start] & 0x80 != 0
        let (length, begin) = readInteger(bytes, at: start, prefixBits: 7)
        let raw = Array(bytes[begin..<min(bytes.count, begin + length)])
        return (huffman ? decodeDigits(raw) : raw, begin + length)
    }

    /// Huffman codes of '0'...'9' (RFC 7541 Appendix B); anything else ends decoding.
    static let digitCodes: [(code: UInt32, bits: Int, digit: UInt8)] = [
        (0x0, 5, 48), (0x1, 5, 49), (0x2, 5, 50), (0x19, 6, 51), (0x1a, 6, 52),
        (0x1b, 6, 53), (0x1c, 6, 54), (0x1d, 6, 55), (0x1e, 6, 56), (0x1f, 6, 57),
    ]

    static func decodeDigits(_ bytes: [UInt8]) -> [UInt8] {
        var bits: [UInt8] = bytes.flatMap { byte in (0..<8).map { (byte >> (7 - $0)) & 1 } }
        var out: [UInt8] = []
        outer: while !bits.isEmpty {
            for entry in digitCodes where bits.count >= entry.bits {
                var value: UInt32 = 0
                for bit in bits.prefix(entry.bits) { value = value << 1 | UInt32(bit) }
                if value == entry.code {
                    out.append(entry.digit)
                    bits.removeFirst(entry.bits)
                    continue outer
                }
            }
            break  // padding (all ones) or a non-digit
        }
        return out
    }
}
