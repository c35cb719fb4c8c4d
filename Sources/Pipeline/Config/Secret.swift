/// A credential read from config. It prints as `<secret>` so it cannot end up in a log by accident:
/// interpolation, `print`, `debugPrint`, `dump` and `Mirror` all see only that.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var bytes: [UInt8] { Array(value.utf8) }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    /// No children: `dump` of a value holding a Secret shows `<secret>`, not the characters.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// In constant time, like every other comparison of credentials.
    public static func == (lhs: Secret, rhs: Secret) -> Bool { ConstantTime.equals(lhs.value.utf8, rhs.value.utf8) }
}
