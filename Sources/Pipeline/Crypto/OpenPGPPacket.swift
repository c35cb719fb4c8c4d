/// One OpenPGP packet (RFC 9580 §4): a tag and a body. Keys and signatures never use partial
/// lengths (§4.2.1.4 allows them only for data packets), so a reader of key files refuses them,
/// as it refuses an indeterminate old-format length and any byte after the last packet.
struct OpenPGPPacket: Equatable, Sendable {
    /// The tags this reader knows (RFC 9580 §5).
    enum Tag: UInt8 {
        case signature = 2
        case secretKey = 5
        case publicKey = 6
        case secretSubkey = 7
        case marker = 10
        case trust = 12
        case userID = 13
        case publicSubkey = 14
        case userAttribute = 17
    }

    let tag: UInt8
    let body: [UInt8]

    init(tag: UInt8, body: [UInt8]) {
        self.tag = tag
        self.body = body
    }

    init(_ tag: Tag, body: [UInt8]) { self.init(tag: tag.rawValue, body: body) }

    var knownTag: Tag? { Tag(rawValue: tag) }

    /// Every packet in `bytes`, which must hold whole packets and nothing else.
    static func parse(_ bytes: [UInt8]) throws -> [OpenPGPPacket] {
        var reader = OpenPGPReader(bytes, what: "packet header")
        var packets: [OpenPGPPacket] = []
        while !reader.isAtEnd {
            let first = try reader.byte()
            guard first & 0x80 != 0 else { throw CryptoError("OpenPGP: byte \(reader.offset - 1) does not start a packet") }
            let tag: UInt8
            let length: Int
            if first & 0x40 != 0 {
                tag = first & 0x3F
                let b0 = Int(try reader.byte())
                switch b0 {
                case 0..<192: length = b0
                case 192..<224: length = ((b0 - 192) << 8) + Int(try reader.byte()) + 192
                case 255: length = Int(try reader.uint32())
                default: throw CryptoError("OpenPGP: a packet with a partial length is not a key or signature packet")
                }
            } else {
                tag = (first >> 2) & 0x0F
                switch first & 3 {
                case 0: length = Int(try reader.byte())
                case 1: length = try reader.uint16()
                case 2: length = Int(try reader.uint32())
                default: throw CryptoError("OpenPGP: a packet of indeterminate length is not a key or signature packet")
                }
            }
            guard tag != 0 else { throw CryptoError("OpenPGP: packet tag 0 is reserved") }
            guard length <= reader.remaining else { throw CryptoError("OpenPGP: a packet (tag \(tag)) is truncated") }
            packets.append(OpenPGPPacket(tag: tag, body: try reader.bytes(length)))
        }
        return packets
    }

    /// The packet with an old-format header (what gpg writes, RFC 9580 §4.2.2) and the shortest
    /// length that fits: 0x98/0x99 for a public key, the first bytes apt's sqv method accepts
    /// for a binary keyring (apt.md §4.4).
    var serialized: [UInt8] {
        precondition(tag < 16, "old-format packets carry tags below 16")
        let base = 0x80 | tag << 2
        switch body.count {
        case 0..<256: return [base, UInt8(body.count)] + body
        case 256..<65536: return [base | 1] + [UInt8].bigEndian16(body.count) + body
        default: return [base | 2] + [UInt8].bigEndian(UInt32(body.count)) + body
        }
    }

    static func serialize(_ packets: [OpenPGPPacket]) -> [UInt8] { packets.flatMap(\.serialized) }
}
