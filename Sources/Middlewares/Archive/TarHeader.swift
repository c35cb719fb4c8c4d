/// A ustar header block (POSIX.1-1988/2001, 512 bytes): read, rename, write.
struct TarHeader {
    static let blockSize = 512
    var block: [UInt8]

    init(block: [UInt8]) { self.block = block }

    /// A new header for a regular file or a directory.
    init(name: String, size: Int, mode: Int, isDirectory: Bool, mtime: Int = 0) {
        block = [UInt8](repeating: 0, count: 512)
        setField(100, 8, octal(mode, width: 7))
        setField(108, 8, octal(0, width: 7))
        setField(116, 8, octal(0, width: 7))
        setField(124, 12, octal(isDirectory ? 0 : size, width: 11))
        setField(136, 12, octal(mtime, width: 11))
        block[156] = isDirectory ? UInt8(ascii: "5") : UInt8(ascii: "0")
        setField(257, 6, Array("ustar".utf8) + [0])
        setField(263, 2, Array("00".utf8))
        _ = setPath(name)
        updateChecksum()
    }

    var isEndOfArchive: Bool { block.allSatisfy { $0 == 0 } }
    var typeflag: UInt8 { block[156] }

    /// The data size that follows (octal, or base-256 for large files).
    var size: Int? {
        if block[124] & 0x80 != 0 {
            var value = 0
            for byte in block[125..<136] { value = value << 8 | Int(byte) }
            return value
        }
        return parseOctal(block[124..<136])
    }

    /// `prefix/name` from the ustar fields.
    var path: String {
        let name = cString(block[0..<100])
        let isUstar = block[257..<262].elementsEqual("ustar".utf8)
        let prefix = isUstar ? cString(block[345..<500]) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    var linkName: String { cString(block[157..<257]) }

    /// Stores `path` in name (and prefix when needed). False when it does not fit a ustar header.
    mutating func setPath(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        if bytes.count <= 100 {
            setField(0, 100, bytes)
            setField(345, 155, [])
            return true
        }
        // Split at a slash so prefix ≤ 155 and name ≤ 100.
        for i in stride(from: min(bytes.count - 1, 155), to: 0, by: -1) where bytes[i] == UInt8(ascii: "/") {
            if bytes.count - i - 1 <= 100 {
                setField(345, 155, Array(bytes[0..<i]))
                setField(0, 100, Array(bytes[(i + 1)...]))
                return true
            }
        }
        return false
    }

    mutating func setLinkName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count <= 100 else { return false }
        setField(157, 100, bytes)
        return true
    }

    mutating func setSize(_ size: Int) {
        setField(124, 12, octal(size, width: 11))
    }

    mutating func updateChecksum() {
        for i in 148..<156 { block[i] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        setField(148, 8, octal(sum, width: 6) + [0, 0x20])
    }

    var checksumIsValid: Bool {
        guard let stored = parseOctal(block[148..<156]) else { return false }
        var copy = block
        for i in 148..<156 { copy[i] = 0x20 }
        return copy.reduce(0) { $0 + Int($1) } == stored
    }

    private mutating func setField(_ offset: Int, _ length: Int, _ bytes: [UInt8]) {
        for i in 0..<length { block[offset + i] = i < bytes.count ? bytes[i] : 0 }
    }

    private func octal(_ value: Int, width: Int) -> [UInt8] {
        let digits = String(value, radix: 8)
        return Array((String(repeating: "0", count: max(0, width - digits.count)) + digits).utf8) + (width == 6 ? [] : [0])
    }

    private func parseOctal(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        var seen = false
        for byte in bytes {
            if byte == 0 || byte == 0x20 { if seen { break } else { continue } }
            guard byte >= 0x30 && byte <= 0x37 else { return nil }
            value = value * 8 + Int(byte - 0x30)
            seen = true
        }
        return value
    }

    private func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// The archive is not a tar file we can safely rewrite.
public struct ArchiveError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
