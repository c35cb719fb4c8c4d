/// A list of request paths: exact paths, or prefixes when a pattern ends in `*` (`/public/*`).
/// Used for a stack's `anonymous` paths (e.g. `/.well-known/terraform.json`: Terraform sends no
/// token for discovery it has no credentials for, and a stale one must not turn it into a 401;
/// an APT repository's `/public.key`) and for the paths a bearer token is limited to.
///
/// Paths are compared percent-decoded; a prefix never matches a path with `.` or `..` segments,
/// so `/public/../private` cannot borrow the prefix.
public struct PathPatterns: Sendable, Equatable {
    public private(set) var patterns: [String]

    public init(_ patterns: [String] = []) { self.patterns = patterns }

    /// Adds a pattern (a behaviour opening a path its protocol needs, such as a discovery document).
    public mutating func add(_ pattern: String) {
        if !patterns.contains(pattern) { patterns.append(pattern) }
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Why `pattern` cannot be used, or nil when it is fine.
    public static func problem(with pattern: String) -> String? {
        guard pattern.hasPrefix("/") else { return "\"\(pattern)\" must start with /" }
        if let star = pattern.firstIndex(of: "*"), pattern.index(after: star) != pattern.endIndex {
            return "\"\(pattern)\": * is only allowed at the end (a prefix)"
        }
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == "." || $0 == ".." }) { return "\"\(pattern)\" must not contain . or .. segments" }
        return nil
    }

    public func matches(_ request: Request) -> Bool {
        guard !patterns.isEmpty, let path = request.decodedPath else { return false }
        for pattern in patterns {
            if pattern.hasSuffix("*") {
                let prefix = pattern.dropLast()
                guard path.hasPrefix(prefix) else { continue }
                let segments = path.split(separator: "/", omittingEmptySubsequences: false)
                if segments.contains(where: { $0 == "." || $0 == ".." }) { return false }
                return true
            } else if path == pattern {
                return true
            }
        }
        return false
    }
}
