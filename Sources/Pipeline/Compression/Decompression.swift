/// One call for small compressed blobs whose format is known by magic bytes (a `.deb`'s
/// `control.tar.*`): gzip, xz or zstd, or the bytes as they are. Bounded by `limit`.
public enum Decompression {
    public enum Format: String, Sendable {
        case none, gzip, xz, zstd
    }

    /// The format `bytes` start with: gzip `1F 8B`, xz `FD 37 7A 58 5A 00`, zstd `28 B5 2F FD`.
    public static func sniff(_ bytes: some Collection<UInt8>) -> Format {
        let head = Array(bytes.prefix(6))
        if head.starts(with: [0x1F, 0x8B]) { return .gzip }
        if head.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if head.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        return .none
    }

    /// `bytes` decompressed as `format`; throws when the data is corrupt or truncated, or the
    /// result would pass `limit` bytes.
    public static func decompress(_ bytes: [UInt8], as format: Format, limit: Int) throws -> [UInt8] {
        switch format {
        case .none:
            guard bytes.count <= limit else { throw CompressionError("more than \(limit) bytes") }
            return bytes
        case .xz:
            return try XZDecoder.decompress(bytes, limit: limit)
        case .zstd:
            return try ZstdDecoder.decompress(bytes, limit: limit)
        case .gzip:
            let inflater = try Inflater(.gzip)
            var output: [UInt8] = []
            try inflater.inflate(bytes) { piece in
                output += piece
                if output.count > limit { throw CompressionError("gzip: more than \(limit) bytes after decompression") }
            }
            guard inflater.isFinished else { throw CompressionError("gzip: truncated data") }
            return output
        }
    }
}
