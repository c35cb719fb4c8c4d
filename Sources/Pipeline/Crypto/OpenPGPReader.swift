/// A bounds-checked cursor over OpenPGP bytes. Every read past the end throws, so a truncated or
/// hostile packet is an error value, never a trap (the fuzz entry point relies on it).
struct OpenPGPReader {
    let bytes: [UInt8]
    /// What is being read, for error messages ("signature packet").
    let what: String
    private(set) var offset: Int

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
        offset = 0
    }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16() throws -> Int {
        let high = Int(try byte())
        return high << 8 | Int(try byte())
    }

    mutating func uint32() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(try byte()) }
        return value
    }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= remaining else { throw truncated }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Everything not yet read.
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }

    /// A multiprecision integer (RFC 9580 §3.2): a two-byte bit count, then the big-endian
    /// magnitude. The count must be exact (no leading zero bits), as the RFC requires of writers,
    /// so one number has one encoding.
    mutating func mpi() throws -> [UInt8] {
        let bits = try uint16()
        let magnitude = try bytes((bits + 7) / 8)
        guard OpenPGPMPI.bitCount(magnitude) == bits else { throw CryptoError("OpenPGP: \(what) has a malformed MPI (bit count \(bits))") }
        return magnitude
    }

    /// Fails unless every byte was read (a packet with trailing bytes is refused, not ignored).
    func expectEnd() throws {
        guard isAtEnd else { throw CryptoError("OpenPGP: \(what) has \(remaining) unexpected trailing bytes") }
    }

    private var truncated: CryptoError { CryptoError("OpenPGP: \(what) is truncated") }
}

/// Writing multiprecision integers (RFC 9580 §3.2).
enum OpenPGPMPI {
    /// The bit length of a big-endian magnitude (leading zero bytes and bits not counted).
    static func bitCount(_ magnitude: [UInt8]) -> Int {
        guard let first = magnitude.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (magnitude.count - first - 1) * 8 + (8 - magnitude[first].leadingZeroBitCount)
    }

    /// The MPI encoding of a big-endian magnitude, leading zeros dropped.
    static func encode(_ magnitude: [UInt8]) -> [UInt8] {
        let bits = bitCount(magnitude)
        let trimmed = magnitude.suffix((bits + 7) / 8)
        return [UInt8(bits >> 8), UInt8(bits & 0xFF)] + trimmed
    }

    /// A magnitude left-padded with zeros to `size` bytes, or nil when it does not fit.
    static func padded(_ magnitude: [UInt8], to size: Int) -> [UInt8]? {
        let trimmed = Array(magnitude.drop { $0 == 0 })
        guard trimmed.count <= size else { return nil }
        return [UInt8](repeating: 0, count: size - trimmed.count) + trimmed
    }
}

/// Big-endian integers as OpenPGP writes them.
extension Array where Element == UInt8 {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func bigEndian16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
}
