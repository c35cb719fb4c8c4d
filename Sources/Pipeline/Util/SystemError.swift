#if canImport(Glibc)
internal import Glibc
#endif

/// A failed system call, with errno rendered as text.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let code: Int32

    public init(call: String, code: Int32) {
        self.call = call
        self.code = code
    }

    public static func errno(_ call: String) -> SystemError { SystemError(call: call, code: Glibc.errno) }

    /// What went wrong, without the call (`No such file or directory`).
    public var reason: String { String(cString: strerror(code)) }

    public var description: String { "\(call): \(reason)" }
}
