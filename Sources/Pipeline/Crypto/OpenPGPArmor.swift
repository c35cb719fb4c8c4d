/// ASCII armor (RFC 9580 §6, RFC 4880 §6): the text form of OpenPGP keys and signatures.
///
/// Writing always adds the CRC24 line (apt.md §4.1: gpgv 2.2 may refuse armor without it).
/// Reading is strict inside a block (matching BEGIN/END labels, `Key: value` headers ended by a
/// blank line, base64 only, a CRC24 that matches when present) and ignores text between blocks,
/// as key files published with a comment above them have.
///
/// ```swift
/// let text = OpenPGPArmor.encode(packets, as: .signature)
/// let blocks = try OpenPGPArmor.decode(text)   // [(kind: .signature, bytes: packets)]
/// ```
public enum OpenPGPArmor {
    /// What a block holds, named by its BEGIN line.
    public enum Kind: String, Sendable, CaseIterable {
        case publicKey = "PUBLIC KEY BLOCK"
        case privateKey = "PRIVATE KEY BLOCK"
        case signature = "SIGNATURE"
        case message = "MESSAGE"
    }

    /// One armored block's label and binary contents.
    public struct Block: Sendable, Equatable {
        public let kind: Kind
        public let bytes: [UInt8]
    }

    /// The armored form of `bytes`: the BEGIN line, a blank line (no headers: they would only
    /// make output differ between builds), base64 in lines of 64, the CRC24 line, the END line.
    public static func encode(_ bytes: [UInt8], as kind: Kind) -> String {
        var out = "-----BEGIN PGP \(kind.rawValue)-----\n\n"
        out += base64Lines(bytes)
        out += "-----END PGP \(kind.rawValue)-----\n"
        return out
    }

    /// The base64 lines and the CRC24 line of an armored body, each ending in a newline.
    static func base64Lines(_ bytes: [UInt8]) -> String {
        let text = Array(Base64.encode(bytes).utf8)
        var out = ""
        var start = 0
        while start < text.count {
            let end = min(start + 64, text.count)
            out += String(decoding: text[start..<end], as: UTF8.self) + "\n"
            start = end
        }
        let crc = crc24(bytes)
        out += "=" + Base64.encode([UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]) + "\n"
        return out
    }

    /// Every armored block in `text`, in order. Throws on a malformed block or when there is none.
    public static func decode(_ text: String) throws -> [Block] {
        var blocks: [Block] = []
        // Split on the byte: a String splits CRLF as one character, and armor may use either.
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).lazy.map { Substring($0) }.makeIterator()
        while let raw = lines.next() {
            let line = trimmed(raw)
            guard line.hasPrefix("-----BEGIN PGP ") else { continue }
            guard line.hasSuffix("-----"), let kind = Kind(rawValue: String(line.dropFirst(15).dropLast(5))) else {
                throw CryptoError("OpenPGP armor: unsupported block \"\(line.prefix(60))\"")
            }
            blocks.append(try decodeBody(kind, &lines))
        }
        guard !blocks.isEmpty else { throw CryptoError("OpenPGP armor: no -----BEGIN PGP ...----- line") }
        return blocks
    }

    /// The one block of `kind` in `text` (a detached signature file, a key file holding one key).
    public static func decodeSingle(_ text: String, as kind: Kind) throws -> [UInt8] {
        let blocks = try decode(text)
        guard blocks.count == 1, blocks[0].kind == kind else {
            throw CryptoError("OpenPGP armor: expected one \(kind.rawValue), found \(blocks.map(\.kind.rawValue).joined(separator: ", "))")
        }
        return blocks[0].bytes
    }

    /// Headers, blank line, base64, optional CRC, END line of the same kind.
    private static func decodeBody(_ kind: Kind, _ lines: inout some IteratorProtocol<Substring>) throws -> Block {
        func fail(_ reason: String) -> CryptoError { CryptoError("OpenPGP armor (\(kind.rawValue)): \(reason)") }
        // Armor headers (RFC 9580 §6.2.2): "Key: value" lines ended by an empty line.
        while true {
            guard let raw = lines.next() else { throw fail("ends inside its headers") }
            let line = trimmed(raw)
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line[line.index(after: colon)...].first.map({ $0 == " " }) ?? true else {
                throw fail("a header line is not \"Key: value\" (is the blank line after BEGIN missing?)")
            }
        }
        var base64: [UInt8] = []
        var checksum: Substring?
        while true {
            guard let raw = lines.next() else { throw fail("has no END line") }
            let line = trimmed(raw)
            if line.hasPrefix("-----") {
                guard line == "-----END PGP \(kind.rawValue)-----" else { throw fail("ends with \"\(line.prefix(60))\"") }
                break
            }
            if line.isEmpty { continue }
            guard checksum == nil else { throw fail("has data after its checksum line") }
            if line.hasPrefix("=") && line.count == 5 {
                checksum = line.dropFirst()
                continue
            }
            base64 += line.utf8
        }
        guard let bytes = Base64.decode(String(decoding: base64, as: UTF8.self)), !bytes.isEmpty else { throw fail("is not valid base64") }
        if let checksum {
            guard let crc = Base64.decode(checksum), crc.count == 3 else { throw fail("has a malformed checksum line") }
            let expected = crc24(bytes)
            guard crc == [UInt8(expected >> 16 & 0xFF), UInt8(expected >> 8 & 0xFF), UInt8(expected & 0xFF)] else {
                throw fail("checksum (CRC24) does not match: the block is damaged")
            }
        }
        return Block(kind: kind, bytes: bytes)
    }

    /// The line without its CR (CRLF files) and trailing spaces and tabs.
    private static func trimmed(_ line: Substring) -> Substring {
        var line = line
        while let last = line.last, last == "\r" || last == " " || last == "\t" { line = line.dropLast() }
        return line
    }

    /// Whether file contents are text (armor, perhaps with a comment above it) rather than
    /// binary packets, whose first byte always has the high bit set (RFC 9580 §4.2).
    static func looksArmored(_ data: [UInt8]) -> Bool {
        guard let first = data.first else { return false }
        return first & 0x80 == 0
    }

    /// CRC-24 (RFC 9580 §6.1): initial value 0xB704CE, generator 0x1864CFB.
    static func crc24(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xB704CE
        for byte in bytes {
            crc ^= UInt32(byte) << 16
            for _ in 0..<8 {
                crc <<= 1
                if crc & 0x100_0000 != 0 { crc ^= 0x1864CFB }
            }
        }
        return crc & 0xFFFFFF
    }

    /// The 64-bit key ID (upper-case hex) of the first key in an armored public key block: the
    /// low 8 bytes of its v4 fingerprint (RFC 9580 §5.5.4.2). Reads the packet structure only;
    /// `OpenPGPCertificate` checks the key's signatures.
    public static func keyID(ofArmoredPublicKey text: String) -> String? {
        guard let block = try? decode(text).first(where: { $0.kind == .publicKey }),
              let first = try? OpenPGPPacket.parse(block.bytes).first, first.knownTag == .publicKey,
              first.body.first == 4 else { return nil }
        return OpenPGPKeyPacket.hex(OpenPGPKeyPacket.fingerprint(ofBody: first.body).suffix(8))
    }
}
