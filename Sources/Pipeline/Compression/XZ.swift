internal import CLzma

/// xz (the .xz container over LZMA2, liblzma): APT's `Packages.xz` is written with `XZEncoder`,
/// a `.deb`'s `control.tar.xz` is read with `XZDecoder`.
///
/// ```swift
/// let packagesXZ = try XZEncoder.compress(packages)        // preset 6, CRC64, like `xz -6`
/// let tar = try XZDecoder.decompress(controlTarXZ, limit: 16 << 20)
/// ```
public enum XZEncoder {
    /// `input` as one .xz stream. The output depends only on the input, the preset and the
    /// liblzma version, so replicas with the same library give the same bytes.
    public static func compress(_ input: [UInt8], preset: UInt32 = 6) throws -> [UInt8] {
        var stream = lzma_stream()
        guard lzma_easy_encoder(&stream, preset, LZMA_CHECK_CRC64) == LZMA_OK else {
            throw CompressionError("xz: encoder initialisation failed")
        }
        defer { lzma_end(&stream) }
        return try XZCoding.run(&stream, input: input, action: LZMA_FINISH, limit: Int.max)
    }
}

/// Reads .xz streams (and the legacy .lzma format, as `xz -d` does).
public enum XZDecoder {
    /// The decompressed bytes of `input`; throws when the result would exceed `limit` bytes or
    /// the input is not a complete xz stream.
    public static func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        var stream = lzma_stream()
        guard lzma_auto_decoder(&stream, UInt64.max, 0) == LZMA_OK else {
            throw CompressionError("xz: decoder initialisation failed")
        }
        defer { lzma_end(&stream) }
        return try XZCoding.run(&stream, input: input, action: LZMA_FINISH, limit: limit)
    }
}

enum XZCoding {
    static func run(_ stream: inout lzma_stream, input: [UInt8], action: lzma_action, limit: Int) throws -> [UInt8] {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeBufferPointer { inputPointer in
            stream.next_in = inputPointer.baseAddress
            stream.avail_in = inputPointer.count
            while true {
                let (status, produced) = buffer.withUnsafeMutableBufferPointer { out -> (lzma_ret, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = out.count
                    let status = lzma_code(&stream, action)
                    return (status, out.count - stream.avail_out)
                }
                output += buffer[0..<produced]
                if output.count > limit { throw CompressionError("xz: more than \(limit) bytes after decompression") }
                if status == LZMA_STREAM_END { break }
                guard status == LZMA_OK else {
                    throw CompressionError(status == LZMA_BUF_ERROR ? "xz: truncated data" : "xz: corrupt data (\(status.rawValue))")
                }
            }
            stream.next_in = nil
        }
        return output
    }
}
