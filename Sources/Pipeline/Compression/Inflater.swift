internal import CZlib

/// Streaming decompression with zlib: gzip (RFC 1952), zlib (RFC 1950) or raw deflate
/// (RFC 1951, as inside zip files). Feed chunks as they arrive; output comes back in pieces of
/// at most 64 KiB each, so a small compressed input cannot make one huge allocation.
public final class Inflater {
    public enum Format: Sendable {
        case gzip
        case zlib
        case raw
    }

    private let stream: UnsafeMutablePointer<z_stream>
    public private(set) var isFinished = false
    /// Bytes produced so far.
    public private(set) var totalOut = 0

    public init(_ format: Format) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let bits: Int32 = switch format {
        case .gzip: 15 + 16
        case .zlib: 15
        case .raw: -15
        }
        guard czlib_inflateInit2(stream, bits) == Z_OK else {
            // Every property is set, so deinit runs for this throw and frees the stream.
            throw CompressionError("inflateInit2 failed")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates `input`, calling `output` with each produced piece. Bytes after the end of the
    /// compressed stream are ignored; `isFinished` tells when the end was reached.
    public func inflate(_ input: some Collection<UInt8>, output: ([UInt8]) throws -> Void) throws {
        guard !isFinished else { return }
        var bytes = Array(input)
        if bytes.isEmpty { return }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        try bytes.withUnsafeMutableBufferPointer { inputPointer in
            stream.pointee.next_in = inputPointer.baseAddress
            stream.pointee.avail_in = UInt32(inputPointer.count)
            repeat {
                let (status, produced) = buffer.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = UInt32(out.count)
                    let status = CZlib.inflate(stream, Z_NO_FLUSH)
                    return (status, out.count - Int(stream.pointee.avail_out))
                }
                if produced > 0 {
                    totalOut += produced
                    try output(Array(buffer[0..<produced]))
                }
                switch status {
                case Z_STREAM_END:
                    isFinished = true
                    stream.pointee.next_in = nil
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR where produced == 0:
                    stream.pointee.next_in = nil
                    return
                case Z_BUF_ERROR:
                    continue
                default:
                    stream.pointee.next_in = nil
                    throw CompressionError("corrupt compressed data")
                }
            } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
            stream.pointee.next_in = nil
        }
    }

    /// How many input bytes of the last call were not used (after the end of the stream).
    public var unusedInput: Int { Int(stream.pointee.avail_in) }
}

/// Streaming gzip compression with zlib. The header carries no name and mtime 0, so the same
/// input gives the same bytes on every replica.
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>

    public init(level: Int32 = 6, gzip: Bool = true) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard czlib_deflateInit2(stream, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) == Z_OK else {
            // Every property is set, so deinit runs for this throw and frees the stream.
            throw CompressionError("deflateInit2 failed")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// Compresses `input`; returns whatever output zlib produced so far (often nothing for small input).
    public func deflate(_ input: some Collection<UInt8>) -> [UInt8] { run(Array(input), flush: Z_NO_FLUSH) }

    /// Ends the stream and returns the remaining output, trailer included.
    public func finish() -> [UInt8] { run([], flush: Z_FINISH) }

    private func run(_ input: [UInt8], flush: Int32) -> [UInt8] {
        var input = input
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        input.withUnsafeMutableBufferPointer { inputPointer in
            stream.pointee.next_in = inputPointer.baseAddress
            stream.pointee.avail_in = UInt32(inputPointer.count)
            while true {
                let (status, produced) = buffer.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = UInt32(out.count)
                    let status = CZlib.deflate(stream, flush)
                    return (status, out.count - Int(stream.pointee.avail_out))
                }
                result += buffer[0..<produced]
                if status == Z_STREAM_END { break }
                if stream.pointee.avail_out != 0 && stream.pointee.avail_in == 0 { break }
            }
            stream.pointee.next_in = nil
        }
        return result
    }
}

/// A compressed stream could not be read or written.
public struct CompressionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
