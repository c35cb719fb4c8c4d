/// A credential read from config. It prints as `<secret>` so it cannot end up in a log by accident.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var bytes: [UInt8] { Array(value.utf8) }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
}
