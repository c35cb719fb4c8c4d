internal import CZstd

/// Reads zstd frames (libzstd): a `.deb`'s `control.tar.zst` (dpkg ≥ 1.21.18, Ubuntu ≥ 21.10).
public enum ZstdDecoder {
    /// The decompressed bytes of `input` (one or more frames); throws when the result would
    /// exceed `limit` bytes or the input ends inside a frame.
    public static func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw CompressionError("zstd: decoder initialisation failed") }
        defer { ZSTD_freeDStream(stream) }
        ZSTD_initDStream(stream)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var lastHint = 0
        try input.withUnsafeBytes { inputBytes in
            var inBuffer = ZSTD_inBuffer(src: inputBytes.baseAddress, size: inputBytes.count, pos: 0)
            repeat {
                let (hint, produced) = buffer.withUnsafeMutableBytes { out -> (Int, Int) in
                    var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    let hint = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    return (hint, outBuffer.pos)
                }
                if ZSTD_isError(hint) != 0 {
                    throw CompressionError("zstd: corrupt data (\(String(cString: ZSTD_getErrorName(hint))))")
                }
                output += buffer[0..<produced]
                if output.count > limit { throw CompressionError("zstd: more than \(limit) bytes after decompression") }
                lastHint = hint
                // A full output buffer may hold more to flush even when all input is consumed.
                if inBuffer.pos == inBuffer.size && produced < buffer.count { break }
            } while true
        }
        guard lastHint == 0 else { throw CompressionError("zstd: truncated data") }
        return output
    }
}
