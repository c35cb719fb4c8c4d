/// The common `ar` format that `.deb` files use (deb(5)): the magic `!<arch>\n`, then members,
/// each a 60-byte header (name[16], mtime[12], uid[6], gid[6], mode[8], size[10], "`\n") and its
/// data padded to an even length. No long-name table; a name may end with `/` (GNU style).
///
/// Reading works on a prefix of the file (the first bytes of a release asset fetched with a
/// Range request): members are listed with their offsets as far as headers are present.
public enum ArArchive {
    public static let magic: [UInt8] = Array("!<arch>\n".utf8)
    public static let headerSize = 60

    /// A member: its name (without a trailing `/`), where its data starts in the file, and its size.
    public struct Member: Sendable, Equatable {
        public let name: String
        public let offset: Int64
        public let size: Int64
    }

    /// Why bytes are not an ar archive.
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The members whose headers lie within `prefix` (the first bytes of a file of `fileSize`
    /// bytes), in order. Throws when the magic or a header is malformed, or a member would end
    /// beyond the file.
    public static func members(in prefix: [UInt8], fileSize: Int64) throws -> [Member] {
        guard prefix.count >= magic.count, prefix.starts(with: magic) else { throw FormatError("not an ar archive (no !<arch> magic)") }
        var members: [Member] = []
        var offset = Int64(magic.count)
        while offset < fileSize, offset + Int64(headerSize) <= Int64(prefix.count) {
            let start = Int(offset)
            let header = prefix[start..<start + headerSize]
            guard header[header.startIndex + 58] == UInt8(ascii: "`"), header[header.startIndex + 59] == UInt8(ascii: "\n") else {
                throw FormatError("malformed ar member header at byte \(offset)")
            }
            var name = field(header, 0, 16)
            if name.hasSuffix("/") { name.removeLast() }
            guard let size = Int64(field(header, 48, 10)), size >= 0 else { throw FormatError("malformed ar member size at byte \(offset)") }
            let dataOffset = offset + Int64(headerSize)
            guard dataOffset + size <= fileSize else { throw FormatError("ar member \(name) ends beyond the file") }
            members.append(Member(name: name, offset: dataOffset, size: size))
            offset = dataOffset + size + (size & 1)
        }
        return members
    }

    static func field(_ header: ArraySlice<UInt8>, _ at: Int, _ length: Int) -> String {
        let start = header.startIndex + at
        var bytes = Array(header[start..<start + length])
        while let last = bytes.last, last == UInt8(ascii: " ") || last == 0 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
