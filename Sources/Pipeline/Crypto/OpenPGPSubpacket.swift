/// A signature subpacket (RFC 9580 §5.2.3.7): a type, the critical flag and data.
struct OpenPGPSubpacket: Sendable, Equatable {
    /// The types this implementation reads or writes.
    enum Kind: UInt8 {
        case creationTime = 2
        case signatureExpiration = 3
        case keyExpiration = 9
        case preferredSymmetric = 11
        case issuerKeyID = 16
        case preferredHash = 21
        case preferredCompression = 22
        case keyServerPreferences = 23
        case primaryUserID = 25
        case keyFlags = 27
        case features = 30
        case embeddedSignature = 32
        case issuerFingerprint = 33
    }

    let type: UInt8
    let critical: Bool
    let data: [UInt8]

    init(_ kind: Kind, _ data: [UInt8], critical: Bool = false) {
        type = kind.rawValue
        self.critical = critical
        self.data = data
    }

    init(type: UInt8, critical: Bool, data: [UInt8]) {
        self.type = type
        self.critical = critical
        self.data = data
    }

    var kind: Kind? { Kind(rawValue: type) }

    /// A critical subpacket whose meaning is not known makes the signature invalid (RFC 9580
    /// §5.2.3.7: "the evaluator SHOULD consider the signature to be in error"). Every type in
    /// `Kind` is understood: its meaning is applied or, for preferences, harmless to ignore.
    var isUnknownCritical: Bool { critical && kind == nil }

    /// The subpackets of one area, which must hold whole subpackets and nothing else.
    static func parse(area: [UInt8]) throws -> [OpenPGPSubpacket] {
        var reader = OpenPGPReader(area, what: "signature subpacket")
        var subpackets: [OpenPGPSubpacket] = []
        while !reader.isAtEnd {
            let first = Int(try reader.byte())
            let length: Int
            switch first {
            case 0..<192: length = first
            case 192..<255: length = ((first - 192) << 8) + Int(try reader.byte()) + 192
            default: length = Int(try reader.uint32())
            }
            guard length >= 1 else { throw CryptoError("OpenPGP: a signature subpacket has no type") }
            let type = try reader.byte()
            subpackets.append(OpenPGPSubpacket(type: type & 0x7F, critical: type & 0x80 != 0, data: try reader.bytes(length - 1)))
        }
        return subpackets
    }

    /// The subpacket with the shortest length encoding.
    var serialized: [UInt8] {
        let length = data.count + 1
        let header: [UInt8]
        switch length {
        case 0..<192: header = [UInt8(length)]
        case 192..<8384: header = [UInt8((length - 192) >> 8 + 192), UInt8((length - 192) & 0xFF)]
        default: header = [255] + [UInt8].bigEndian(UInt32(length))
        }
        return header + [type | (critical ? 0x80 : 0)] + data
    }

    /// Subpacket data read as a four-byte big-endian number (times and durations).
    var uint32: UInt32? {
        guard data.count == 4 else { return nil }
        return data.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
