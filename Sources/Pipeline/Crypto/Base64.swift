/// Base64 (RFC 4648 §4) and base64url (§5) encoding. Decoding is strict: no whitespace, no
/// characters outside the alphabet, and non-zero leftover bits refused, so one value has exactly
/// one accepted spelling (JWS segments and signatures must not be malleable).
public enum Base64 {
    static let standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Standard alphabet; `padding` adds `=` to a multiple of four characters.
    public static func encode(_ bytes: some Collection<UInt8>, padding: Bool = true) -> String {
        encode(Array(bytes), alphabet: standard, padding: padding)
    }

    /// Standard alphabet. Padding is required when `padding` is true and refused otherwise.
    public static func decode(_ text: some StringProtocol, padding: Bool = true) -> [UInt8]? {
        decode(Array(text.utf8), alphabet: standard, padding: padding)
    }

    static func encode(_ bytes: [UInt8], alphabet: [UInt8], padding: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
            if padding { out += Array("==".utf8) }
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
            if padding { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ input: [UInt8], alphabet: [UInt8], padding: Bool) -> [UInt8]? {
        var text = input[...]
        if padding {
            guard text.count % 4 == 0 else { return nil }
            if text.last == UInt8(ascii: "=") { text = text.dropLast() }
            if text.last == UInt8(ascii: "=") { text = text.dropLast() }
        }
        guard text.count % 4 != 1 else { return nil }
        var table = [Int8](repeating: -1, count: 256)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = Int8(value) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0, bits = 0
        for char in text {
            let value = table[Int(char)]
            guard value >= 0 else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero: "QQ" and "QR" would otherwise both decode to "A".
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}

/// Base64url without padding (RFC 7515 §2), the encoding of every JWS/JWK field.
public enum Base64URL {
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64.encode(Array(bytes), alphabet: Base64.url, padding: false)
    }

    public static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    /// Nil for padding, whitespace, characters outside the alphabet or non-canonical trailing bits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        Base64.decode(Array(text.utf8), alphabet: Base64.url, padding: false)
    }
}
