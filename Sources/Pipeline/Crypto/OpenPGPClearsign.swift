/// The cleartext signature framework (RFC 9580 §7, RFC 4880 §7), which apt's InRelease uses.
///
/// The text is shown as its lines, each with trailing spaces and tabs removed and dash-escaped
/// when it starts with `-` (apt refuses any other line starting with `-`, apt.md §4.1). The
/// signature (type 0x01) covers those lines joined by CRLF; the line break before
/// `-----BEGIN PGP SIGNATURE-----` is not part of the signed text. The `Hash:` header names the
/// digest: gpgv 2.2 refuses a cleartext message without it.
enum OpenPGPCleartext {
    /// The lines of `text` as they are signed and shown: split at LF, a CR before the LF and
    /// trailing spaces and tabs removed. A final line break ends the last line; it does not
    /// start an empty one.
    static func lines(_ text: String) -> [ArraySlice<UInt8>] {
        var lines = Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }
        return lines.map { line in
            var line = line
            while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                line = line.dropLast()
            }
            return line
        }
    }

    /// What the signature covers: the lines joined by CRLF, without a final line break.
    static func signedText(_ lines: [ArraySlice<UInt8>]) -> [UInt8] {
        Array(lines.joined(separator: [UInt8(ascii: "\r"), UInt8(ascii: "\n")]))
    }

    /// The whole message: header, dash-escaped lines, the armored signature.
    static func message(_ lines: [ArraySlice<UInt8>], hash: OpenPGPHashAlgorithm, signature: [UInt8]) -> String {
        var out = Array("-----BEGIN PGP SIGNED MESSAGE-----\nHash: \(hash.armorName)\n\n".utf8)
        for line in lines {
            if line.first == UInt8(ascii: "-") { out += Array("- ".utf8) }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        return String(decoding: out, as: UTF8.self) + OpenPGPArmor.encode(signature, as: .signature)
    }

    /// `data` with every LF not already preceded by CR turned into CRLF (a text signature's
    /// canonical form, RFC 9580 §5.2.1.2).
    static func canonicalLineEndings(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + data.count / 32)
        var previous: UInt8 = 0
        for byte in data {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { out.append(UInt8(ascii: "\r")) }
            out.append(byte)
            previous = byte
        }
        return out
    }
}
