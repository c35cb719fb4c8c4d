/// Finds a regular file in an uncompressed tar archive held in memory (a `.deb`'s control
/// archive: a few KB). Understands v7, ustar (with `prefix`), GNU long names (`L`) and pax
/// extended headers (`x`, `path=`).
public enum TarReader {
    /// Why bytes are not a readable tar archive.
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The data of the first regular file whose path, without a leading `./`, is `path`; nil when
    /// the archive has none.
    public static func file(_ path: String, in tar: [UInt8]) throws -> [UInt8]? {
        var offset = 0
        var longName: String?
        while offset + 512 <= tar.count {
            let block = tar[offset..<offset + 512]
            if block.allSatisfy({ $0 == 0 }) { return nil }
            guard checksumHolds(block) else { throw FormatError("tar header checksum mismatch at byte \(offset)") }
            guard let size = number(block, 124, 12), size >= 0 else { throw FormatError("malformed tar size at byte \(offset)") }
            let dataStart = offset + 512
            guard dataStart + size <= tar.count else { throw FormatError("tar member ends beyond the archive (truncated)") }
            let data = tar[dataStart..<dataStart + size]
            let type = block[block.startIndex + 156]
            var name: String
            if let longName {
                name = longName
            } else {
                name = string(block, 0, 100)
                if block[(block.startIndex + 257)..<(block.startIndex + 262)].elementsEqual("ustar".utf8) {
                    let prefix = string(block, 345, 155)
                    if !prefix.isEmpty { name = prefix + "/" + name }
                }
            }
            longName = nil
            switch type {
            case UInt8(ascii: "L"):
                longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            case UInt8(ascii: "x"):
                longName = paxPath(Array(data))
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                if normalise(name) == path { return Array(data) }
            default:
                break
            }
            offset = dataStart + (size + 511) / 512 * 512
        }
        throw FormatError("tar archive ends without its end marker (truncated)")
    }

    static func normalise(_ name: String) -> String {
        var name = Substring(name)
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        while name.hasPrefix("/") { name = name.dropFirst() }
        return String(name)
    }

    /// The `path` record of a pax extended header ("<length> path=<value>\n" records).
    static func paxPath(_ data: [UInt8]) -> String? {
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[index..<space], as: UTF8.self)), length > 0, index + length <= data.count else { return nil }
            let record = data[(space + 1)..<(index + length)].dropLast()
            if record.starts(with: "path=".utf8) { return String(decoding: record.dropFirst(5), as: UTF8.self) }
            index += length
        }
        return nil
    }

    static func string(_ block: ArraySlice<UInt8>, _ at: Int, _ length: Int) -> String {
        let start = block.startIndex + at
        return String(decoding: block[start..<start + length].prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal field, or base-256 when the high bit of the first byte is set.
    static func number(_ block: ArraySlice<UInt8>, _ at: Int, _ length: Int) -> Int? {
        let start = block.startIndex + at
        let field = block[start..<start + length]
        if let first = field.first, first & 0x80 != 0 {
            var value = Int(first & 0x7F)
            for byte in field.dropFirst() {
                guard value < Int.max >> 8 else { return nil }
                value = value << 8 | Int(byte)
            }
            return value
        }
        let text = String(decoding: field.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }, as: UTF8.self)
        if text.isEmpty { return 0 }
        return Int(text, radix: 8)
    }

    static func checksumHolds(_ block: ArraySlice<UInt8>) -> Bool {
        guard let stored = number(block, 148, 8) else { return false }
        var sum = 0
        for (index, byte) in block.enumerated() {
            sum += (148..<156).contains(index) ? 32 : Int(byte)
        }
        return sum == stored
    }
}
