import COpenSSL

/// Just enough OpenPGP (RFC 4880) to describe a public key: ASCII armor and the v4 key ID.
public enum OpenPGPArmor {
    /// The binary packets inside an ASCII-armored block (headers and the CRC line are skipped).
    public static func dearmor(_ text: String) -> [UInt8]? {
        var inBody = false
        var sawBlank = false
        var base64 = ""
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingASCIIWhitespace()
            if line.hasPrefix("-----BEGIN PGP") { inBody = true; continue }
            if line.hasPrefix("-----END PGP") { break }
            guard inBody else { continue }
            if !sawBlank {
                if line.isEmpty { sawBlank = true }
                continue
            }
            if line.hasPrefix("=") { continue }   // CRC24
            base64 += line
        }
        guard !base64.isEmpty else { return nil }
        return Base64.decode(base64)
    }

    /// The 64-bit key ID (upper-case hex) of the first public-key packet: the low 8 bytes of its
    /// v4 fingerprint, SHA-1 over 0x99, the two-byte body length and the body (RFC 4880 §12.2).
    public static func keyID(ofArmoredPublicKey text: String) -> String? {
        guard let packets = dearmor(text), let body = firstPublicKeyBody(packets), body.first == 4 else { return nil }
        let prefix: [UInt8] = [0x99, UInt8(body.count >> 8), UInt8(body.count & 0xFF)]
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let input = prefix + body
        let ok = input.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha1(), nil) }
        guard ok == 1 else { return nil }
        return Hex.encode(digest.suffix(8)).uppercased()
    }

    static func firstPublicKeyBody(_ bytes: [UInt8]) -> [UInt8]? {
        guard let first = bytes.first, first & 0x80 != 0 else { return nil }
        var tag: UInt8
        var length = 0
        var offset: Int
        if first & 0x40 != 0 {
            tag = first & 0x3F
            guard bytes.count > 1 else { return nil }
            let b0 = Int(bytes[1])
            if b0 < 192 { length = b0; offset = 2 } else if b0 < 224 {
                guard bytes.count > 2 else { return nil }
                length = ((b0 - 192) << 8) + Int(bytes[2]) + 192
                offset = 3
            } else if b0 == 255 {
                guard bytes.count > 5 else { return nil }
                length = Int(bytes[2]) << 24 | Int(bytes[3]) << 16 | Int(bytes[4]) << 8 | Int(bytes[5])
                offset = 6
            } else { return nil }
        } else {
            tag = (first >> 2) & 0x0F
            switch first & 3 {
            case 0: guard bytes.count > 1 else { return nil }; length = Int(bytes[1]); offset = 2
            case 1: guard bytes.count > 2 else { return nil }; length = Int(bytes[1]) << 8 | Int(bytes[2]); offset = 3
            case 2:
                guard bytes.count > 4 else { return nil }
                length = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
                offset = 5
            default: return nil
            }
        }
        guard tag == 6, offset + length <= bytes.count else { return nil }
        return Array(bytes[offset..<(offset + length)])
    }
}
