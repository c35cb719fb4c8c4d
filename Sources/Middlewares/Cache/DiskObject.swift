import Pipeline

/// The file format of the disk tier: the body first (so a fill can write it, and readers follow it,
/// from offset 0 before the head is final), then the head as JSON, then a 12-byte trailer: the JSON's
/// length (UInt32, little-endian) and the magic `GWCACHE1`. A file is only ever complete: it is
/// written under `tmp/` and renamed into place after fsync.
enum DiskObject {
    static let magic: [UInt8] = Array("GWCACHE1".utf8)
    static let trailerSize = 12
    static let maxHeadBytes = 1 << 20

    /// The bytes that follow the body.
    static func trailer(for head: StoredHead) -> [UInt8] {
        let json = Array(head.json.serialized().utf8)
        let count = UInt32(json.count)
        return json + [UInt8(count & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count >> 16 & 0xFF), UInt8(count >> 24)] + magic
    }

    /// Reads the head of a complete object file; nil when the file is not one (truncated, foreign, corrupt).
    static func readHead(_ file: OpenFile) -> StoredHead? {
        guard file.size >= Int64(trailerSize),
              let tail = try? file.read(at: file.size - Int64(trailerSize), count: trailerSize), tail.count == trailerSize,
              Array(tail[4...]) == magic else { return nil }
        let count = Int(tail[0]) | Int(tail[1]) << 8 | Int(tail[2]) << 16 | Int(tail[3]) << 24
        guard count > 0, count <= maxHeadBytes, Int64(count + trailerSize) <= file.size,
              let bytes = try? file.read(at: file.size - Int64(trailerSize + count), count: count), bytes.count == count,
              let json = try? JSONParser.parse(bytes), let head = StoredHead(json: json),
              head.length + Int64(count + trailerSize) == file.size else { return nil }
        return head
    }
}
