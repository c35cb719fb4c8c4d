/// What a PROXY protocol header (haproxy's proxy-protocol.txt, v1 text or v2 binary) says about a
/// connection a load balancer relays: who the client is.
public struct ProxyHeader: Sendable, Equatable {
    public enum Version: Int, Sendable { case v1 = 1, v2 = 2 }

    public let version: Version
    /// The client and the address it connected to; nil when the header carries none (v1 `UNKNOWN`,
    /// v2 `LOCAL` such as a health check, `UNSPEC` or UNIX addresses): the socket's own apply.
    public let source: SocketAddress?
    public let destination: SocketAddress?

    public init(version: Version, source: SocketAddress?, destination: SocketAddress?) {
        self.version = version
        self.source = source
        self.destination = destination
    }
}

/// Why a connection's first bytes are not a PROXY header the gateway accepts.
public enum ProxyHeaderError: Error, Equatable, CustomStringConvertible {
    /// The first bytes are neither `PROXY ` nor the v2 signature.
    case missing
    case malformed(String)
    /// The peer closed the connection or sent nothing more before the header was complete.
    case truncated

    public var description: String {
        switch self {
        case .missing: "no PROXY protocol header"
        case .malformed(let reason): "malformed PROXY protocol header: \(reason)"
        case .truncated: "truncated PROXY protocol header"
        }
    }
}

/// Reads PROXY protocol headers from the start of a connection's bytes in two steps, so a reader
/// can take exactly the header off the socket and leave what follows (a TLS ClientHello) there:
/// `headerLength` says how long the header is as soon as enough bytes show it, `parse` reads it.
///
/// A listener with `proxyProtocol` requires a header (v1 or v2, told apart by their first bytes)
/// and never guesses: anything else closes the connection (proxy-protocol.txt §1.1).
public enum ProxyHeaderParser {
    /// The longest v1 line, CRLF included: `PROXY UNKNOWN` with two full IPv6 addresses and ports.
    public static let maxV1Length = 107
    /// The fixed part of a v2 header: signature, version and command, family, length.
    public static let v2PrefixLength = 16
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Signature: [UInt8] = Array("PROXY ".utf8)

    /// The length of the header at the start of `bytes`, or nil while more bytes are needed to
    /// tell. Throws as soon as the bytes cannot start a valid header.
    public static func headerLength(_ bytes: UnsafeRawBufferPointer) throws(ProxyHeaderError) -> Int? {
        guard let first = bytes.first else { return nil }
        if first == v2Signature[0] {
            for index in 0..<min(bytes.count, v2Signature.count) where bytes[index] != v2Signature[index] {
                throw .missing
            }
            if bytes.count > 12, bytes[12] >> 4 != 0x2 { throw .malformed("unsupported version \(bytes[12] >> 4)") }
            guard bytes.count >= v2PrefixLength else { return nil }
            return v2PrefixLength + Int(bytes[14]) << 8 + Int(bytes[15])
        }
        for index in 0..<min(bytes.count, v1Signature.count) where bytes[index] != v1Signature[index] {
            throw .missing
        }
        for index in 0..<min(bytes.count, maxV1Length) {
            switch bytes[index] {
            case 0x0A: throw .malformed("line feed without carriage return")
            case 0x0D:
                guard index + 2 <= maxV1Length else { throw .malformed("longer than \(maxV1Length) bytes") }
                guard index + 1 < bytes.count else { return nil }
                guard bytes[index + 1] == 0x0A else { throw .malformed("carriage return without line feed") }
                return index + 2
            default: continue
            }
        }
        if bytes.count >= maxV1Length { throw .malformed("no CRLF within \(maxV1Length) bytes") }
        return nil
    }

    /// Parses exactly one header: `bytes.count` is what `headerLength` returned.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(ProxyHeaderError) -> ProxyHeader {
        guard let length = try headerLength(bytes), length <= bytes.count else { throw .truncated }
        guard length == bytes.count else { throw .malformed("\(bytes.count - length) bytes after the header") }
        return bytes[0] == v2Signature[0] ? try parseV2(bytes) : try parseV1(bytes)
    }

    // MARK: v1

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) throws(ProxyHeaderError) -> ProxyHeader {
        let line = bytes[..<(bytes.count - 2)]
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw .malformed("a byte that is not printable US-ASCII") }
        let fields = line.split(separator: 0x20, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard fields.count >= 2 else { throw .malformed("no protocol") }
        switch fields[1] {
        case "UNKNOWN":
            // Everything after UNKNOWN is ignored; the socket's own addresses apply.
            return ProxyHeader(version: .v1, source: nil, destination: nil)
        case "TCP4", "TCP6":
            guard fields.count == 6 else { throw .malformed("expected 4 fields after \(fields[1]), got \(fields.count - 2)") }
            let family: SocketAddress.Family = fields[1] == "TCP4" ? .v4 : .v6
            let source = try address(fields[2], port: try port(fields[4]), family: family)
            let destination = try address(fields[3], port: try port(fields[5]), family: family)
            return ProxyHeader(version: .v1, source: source, destination: destination)
        default:
            throw .malformed("unknown protocol \"\(fields[1].prefix(16))\"")
        }
    }

    private static func port(_ text: String) throws(ProxyHeaderError) -> UInt16 {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              digits.count == 1 || digits.first != 0x30, let value = UInt16(text) else {
            throw .malformed("bad port \"\(text.prefix(8))\"")
        }
        return value
    }

    private static func address(_ text: String, port: UInt16, family: SocketAddress.Family) throws(ProxyHeaderError) -> SocketAddress {
        // inet_pton refuses IPv4 parts with leading zeros, as the protocol does.
        let isV6Text = text.utf8.contains(0x3A)
        guard (family == .v6) == isV6Text, let parsed = SocketAddress(ip: text, port: port) else {
            throw .malformed("bad \(family == .v4 ? "IPv4" : "IPv6") address \"\(text.prefix(46))\"")
        }
        return mappedToV4(parsed)
    }

    /// `::ffff:a.b.c.d` is logged and matched as the IPv4 address it is, like accepted sockets.
    private static func mappedToV4(_ address: SocketAddress) -> SocketAddress {
        let b = address.bytes
        guard b.count == 16, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF else { return address }
        return SocketAddress(bytes: Array(b[12...]), port: address.port)
    }

    // MARK: v2

    private static func parseV2(_ bytes: UnsafeRawBufferPointer) throws(ProxyHeaderError) -> ProxyHeader {
        let command = bytes[12] & 0x0F
        let family = bytes[13]
        let end = bytes.count
        func be16(_ at: Int) -> UInt16 { UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) }
        switch command {
        case 0x0:
            // LOCAL: the balancer's own connection (a health check); the address block is skipped.
            return ProxyHeader(version: .v2, source: nil, destination: nil)
        case 0x1: break
        default: throw .malformed("unknown command \(command)")
        }
        var source: SocketAddress?
        var destination: SocketAddress?
        let tlvStart: Int
        switch family {
        case 0x00:
            tlvStart = 16
        case 0x11:
            guard end >= 16 + 12 else { throw .malformed("IPv4 address block shorter than 12 bytes") }
            source = SocketAddress(bytes: Array(bytes[16..<20]), port: be16(24))
            destination = SocketAddress(bytes: Array(bytes[20..<24]), port: be16(26))
            tlvStart = 28
        case 0x21:
            guard end >= 16 + 36 else { throw .malformed("IPv6 address block shorter than 36 bytes") }
            source = mappedToV4(SocketAddress(bytes: Array(bytes[16..<32]), port: be16(48)))
            destination = mappedToV4(SocketAddress(bytes: Array(bytes[32..<48]), port: be16(50)))
            tlvStart = 52
        case 0x31:
            // UNIX sockets carry no client address worth logging; the socket's own apply.
            guard end >= 16 + 216 else { throw .malformed("UNIX address block shorter than 216 bytes") }
            tlvStart = 232
        case 0x12, 0x22, 0x32:
            throw .malformed("a datagram family on a stream connection")
        default:
            throw .malformed("unknown address family 0x\(String(family, radix: 16))")
        }
        // TLVs: type (1), length (2), value. Unknown types are skipped; a CRC32C one is checked.
        var offset = tlvStart
        var checksumAt: Int?
        while offset < end {
            guard offset + 3 <= end else { throw .malformed("truncated TLV") }
            let type = bytes[offset]
            let length = Int(be16(offset + 1))
            guard offset + 3 + length <= end else { throw .malformed("TLV 0x\(String(type, radix: 16)) longer than the header") }
            if type == 0x03 {
                guard length == 4 else { throw .malformed("CRC32C TLV of \(length) bytes") }
                guard checksumAt == nil else { throw .malformed("two CRC32C TLVs") }
                checksumAt = offset + 3
            }
            offset += 3 + length
        }
        if let at = checksumAt {
            let expected = UInt32(be16(at)) << 16 | UInt32(be16(at + 2))
            guard CRC32C.checksum(bytes, zeroed: at..<(at + 4)) == expected else { throw .malformed("CRC32C mismatch") }
        }
        return ProxyHeader(version: .v2, source: source, destination: destination)
    }
}
