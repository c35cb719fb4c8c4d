/// One HTTP/2 frame as it goes over the wire (RFC 9113 §4.1), for tests that need to send what
/// no well-behaved client would.
public struct H2Frame: Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5, ping = 6, goaway = 7,
             windowUpdate = 8, continuation = 9
    }

    public static let endStream: UInt8 = 0x1
    public static let ack: UInt8 = 0x1
    public static let endHeaders: UInt8 = 0x4

    public var type: UInt8
    public var flags: UInt8
    public var streamID: UInt32
    public var payload: [UInt8]

    public init(_ kind: Kind, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8] = []) {
        self.init(type: kind.rawValue, flags: flags, stream: stream, payload: payload)
    }

    public init(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        streamID = stream
        self.payload = payload
    }

    public var kind: Kind? { Kind(rawValue: type) }

    public var bytes: [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags]
            + H2Frame.be32(streamID & 0x7FFF_FFFF) + payload
    }

    /// The error code of a RST_STREAM or GOAWAY frame.
    public var errorCode: UInt32? {
        switch kind {
        case .rstStream where payload.count >= 4: H2Frame.read32(payload, at: 0)
        case .goaway where payload.count >= 8: H2Frame.read32(payload, at: 4)
        default: nil
        }
    }

    /// The last stream id of a GOAWAY frame.
    public var lastStreamID: UInt32? {
        kind == .goaway && payload.count >= 4 ? H2Frame.read32(payload, at: 0) & 0x7FFF_FFFF : nil
    }

    public var description: String {
        "\(kind.map { "\($0)" } ?? "type \(type)") stream=\(streamID) flags=\(flags) length=\(payload.count)"
            + (errorCode.map { " error=\($0)" } ?? "")
    }

    public static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    public static func read32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    // MARK: Common frames

    /// SETTINGS with (identifier, value) pairs.
    public static func settings(_ values: [(UInt16, UInt32)]) -> H2Frame {
        H2Frame(.settings, payload: values.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xFF)] + be32($0.1) })
    }

    public static func windowUpdate(stream: UInt32, increment: UInt32) -> H2Frame {
        H2Frame(.windowUpdate, stream: stream, payload: be32(increment))
    }

    public static func rst(stream: UInt32, code: UInt32 = 8) -> H2Frame {
        H2Frame(.rstStream, stream: stream, payload: be32(code))
    }

    public static func ping(_ value: UInt8 = 0) -> H2Frame {
        H2Frame(.ping, payload: [UInt8](repeating: value, count: 8))
    }
}
