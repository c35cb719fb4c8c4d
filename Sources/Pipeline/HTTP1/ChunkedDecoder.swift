/// Decodes a chunked body (RFC 9112 §7.1) incrementally from whatever bytes have arrived.
/// Chunk sizes must be hex digits that fit in 60 bits; extensions and trailers are read and
/// dropped within a size cap; every line must end in CRLF.
public struct ChunkedDecoder: Sendable {
    enum State: Sendable, Equatable {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers
        case done
    }

    public enum Event: Equatable {
        /// Body bytes at `range` of the input.
        case data(Range<Int>)
        /// The last chunk and the trailers were read.
        case end
    }

    private(set) var state: State = .size
    private let lineLimit: Int
    private var trailerBytes = 0

    public init(lineLimit: Int = 8 * 1024) { self.lineLimit = lineLimit }

    public var isDone: Bool { state == .done }

    /// Reads from the start of `bytes`. Returns how many bytes were used and, when it got that far,
    /// body data or the end. `(0, nil)` means more input is needed.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (consumed: Int, event: Event?) {
        var position = 0
        while position < bytes.count || state == .done {
            switch state {
            case .size:
                guard let end = try lineEnd(bytes, from: position) else { return (position, nil) }
                var size = 0
                var digits = 0
                var i = position
                while i < end, let digit = PercentEncoding.hexValue(bytes[i]) {
                    digits += 1
                    if digits > 15 { throw .badRequest("chunk size too large") }
                    size = size << 4 | Int(digit)
                    i += 1
                }
                guard digits > 0 else { throw .badRequest("invalid chunk size") }
                if i < end {
                    // chunk-ext: BWS ";" ... ; tolerated, not interpreted.
                    var j = i
                    while j < end, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                    guard j < end, bytes[j] == UInt8(ascii: ";") else { throw .badRequest("invalid chunk size") }
                }
                position = end + 2
                state = size == 0 ? .trailers : .data(remaining: size)
            case .data(let remaining):
                let n = min(remaining, bytes.count - position)
                state = remaining - n == 0 ? .dataEnd : .data(remaining: remaining - n)
                return (position + n, .data(position..<(position + n)))
            case .dataEnd:
                guard bytes.count - position >= 2 else { return (position, nil) }
                guard bytes[position] == 0x0D, bytes[position + 1] == 0x0A else { throw .badRequest("missing CRLF after chunk data") }
                position += 2
                state = .size
            case .trailers:
                guard let end = try lineEnd(bytes, from: position) else { return (position, nil) }
                trailerBytes += end - position + 2
                if trailerBytes > lineLimit { throw .headersTooLarge }
                if end == position {
                    state = .done
                    return (end + 2, .end)
                }
                let first = bytes[position]
                if first == 0x20 || first == 0x09 { throw .badRequest("obsolete line folding") }
                position = end + 2
            case .done:
                return (position, .end)
            }
        }
        return (position, nil)
    }

    private func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) throws(HTTP1ParseError) -> Int? {
        var i = from
        while i < bytes.count {
            switch bytes[i] {
            case 0x0D:
                guard i + 1 < bytes.count else { return nil }
                guard bytes[i + 1] == 0x0A else { throw .badRequest("bare CR") }
                return i
            case 0x0A: throw .badRequest("bare LF")
            case 0: throw .badRequest("NUL in chunk line")
            default: i += 1
            }
            if i - from > lineLimit { throw .badRequest("chunk line too long") }
        }
        if i - from > lineLimit { throw .badRequest("chunk line too long") }
        return nil
    }
}
