import Pipeline

/// Reads a zip file's central directory and streams its entries' contents (stored or deflated).
/// Enough for provider packages: no encryption, no multi-disk, no zip64.
public struct ZipArchive {
    public struct Entry: Sendable {
        public let name: String
        public let method: UInt16
        public let compressedSize: Int64
        public let size: Int64
        let localHeaderOffset: Int64
        public var isDirectory: Bool { name.hasSuffix("/") }
    }

    public let file: OpenFile
    public let entries: [Entry]

    public init(file: OpenFile) throws {
        self.file = file
        let tailLength = Int(min(file.size, 65_557))
        let tail = try file.read(at: file.size - Int64(tailLength), count: tailLength)
        guard tail.count >= 22, let eocd = stride(from: tail.count - 22, through: 0, by: -1).first(where: {
            tail[$0] == 0x50 && tail[$0 + 1] == 0x4B && tail[$0 + 2] == 0x05 && tail[$0 + 3] == 0x06
        }) else { throw ArchiveError("not a zip file") }
        let count = Int(Self.u16(tail, eocd + 10))
        let directorySize = Int64(Self.u32(tail, eocd + 12))
        let directoryOffset = Int64(Self.u32(tail, eocd + 16))
        guard count != 0xFFFF, directoryOffset != 0xFFFF_FFFF else { throw ArchiveError("zip64 archives are not supported") }
        guard directoryOffset + directorySize <= file.size, directorySize <= 16 << 20 else { throw ArchiveError("corrupt zip directory") }
        let directory = try file.read(at: directoryOffset, count: Int(directorySize))
        var entries: [Entry] = []
        var i = 0
        for _ in 0..<count {
            guard i + 46 <= directory.count, Self.u32(directory, i) == 0x0201_4B50 else { throw ArchiveError("corrupt zip directory entry") }
            let method = Self.u16(directory, i + 10)
            let compressed = Int64(Self.u32(directory, i + 20))
            let size = Int64(Self.u32(directory, i + 24))
            let nameLength = Int(Self.u16(directory, i + 28))
            let extraLength = Int(Self.u16(directory, i + 30))
            let commentLength = Int(Self.u16(directory, i + 32))
            let offset = Int64(Self.u32(directory, i + 42))
            guard i + 46 + nameLength <= directory.count else { throw ArchiveError("corrupt zip directory entry") }
            let name = String(decoding: directory[(i + 46)..<(i + 46 + nameLength)], as: UTF8.self)
            guard compressed != 0xFFFF_FFFF, size != 0xFFFF_FFFF else { throw ArchiveError("zip64 entries are not supported") }
            entries.append(Entry(name: name, method: method, compressedSize: compressed, size: size, localHeaderOffset: offset))
            i += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    /// Calls `output` with the uncompressed content of `entry`, in pieces; refuses to produce
    /// more than the entry's declared size (zip bombs).
    public func read(_ entry: Entry, output: ([UInt8]) throws -> Void) throws {
        let local = try file.read(at: entry.localHeaderOffset, count: 30)
        guard local.count == 30, Self.u32(local, 0) == 0x0403_4B50 else { throw ArchiveError("corrupt zip entry \(entry.name)") }
        var offset = entry.localHeaderOffset + 30 + Int64(Self.u16(local, 26)) + Int64(Self.u16(local, 28))
        let end = offset + entry.compressedSize
        guard end <= file.size else { throw ArchiveError("zip entry \(entry.name) runs past the end of the file") }
        var produced: Int64 = 0
        let inflater: Inflater?
        switch entry.method {
        case 0: inflater = nil
        case 8: inflater = try Inflater(.raw)
        default: throw ArchiveError("zip entry \(entry.name) uses unsupported compression method \(entry.method)")
        }
        while offset < end {
            let chunk = try file.read(at: offset, count: Int(min(256 * 1024, end - offset)))
            if chunk.isEmpty { throw ArchiveError("zip file shrank") }
            offset += Int64(chunk.count)
            if let inflater {
                try inflater.inflate(chunk) { piece in
                    produced += Int64(piece.count)
                    guard produced <= entry.size else { throw ArchiveError("zip entry \(entry.name) inflates past its size") }
                    try output(piece)
                }
            } else {
                produced += Int64(chunk.count)
                try output(chunk)
            }
        }
        guard produced == entry.size else { throw ArchiveError("zip entry \(entry.name) has the wrong size") }
    }

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}
