import Synchronization

/// One problem in a configuration, with the JSON pointer of the value it is about.
public struct ConfigIssue: Sendable, CustomStringConvertible, Equatable {
    public enum Severity: String, Sendable { case error, warning }

    public let severity: Severity
    public let pointer: JSONPointer
    public let message: String

    public init(severity: Severity, pointer: JSONPointer, message: String) {
        self.severity = severity
        self.pointer = pointer
        self.message = message
    }

    public var description: String { "\(pointer): \(message)" }
}

/// Collects every error and warning of a load instead of stopping at the first,
/// so `gateway check` shows all of them at once.
public final class Diagnostics: Sendable {
    private let issues = Mutex<[ConfigIssue]>([])

    public init() {}

    public func error(_ pointer: JSONPointer, _ message: String) {
        issues.withLock { $0.append(ConfigIssue(severity: .error, pointer: pointer, message: message)) }
    }

    public func warning(_ pointer: JSONPointer, _ message: String) {
        issues.withLock { $0.append(ConfigIssue(severity: .warning, pointer: pointer, message: message)) }
    }

    public var all: [ConfigIssue] { issues.withLock { $0 } }
    public var errors: [ConfigIssue] { all.filter { $0.severity == .error } }
    public var warnings: [ConfigIssue] { all.filter { $0.severity == .warning } }
    public var errorCount: Int { issues.withLock { $0.count { $0.severity == .error } } }
    public var hasErrors: Bool { errorCount > 0 }
}

/// A failure a builder cannot report more precisely than "this value is wrong": the registry
/// records it at the builder's pointer.
public struct ConfigError: Error, CustomStringConvertible {
    public let message: String
    public let pointer: JSONPointer?

    public init(_ message: String, at pointer: JSONPointer? = nil) {
        self.message = message
        self.pointer = pointer
    }

    public var description: String { message }
}
