import Pipeline

/// A route path such as `/v1/modules/:namespace/:name/*`: literal segments, `:name` for one
/// segment, and `*` (or `*name`) as the last segment for the rest of the path.
public struct RoutePattern: Sendable, Equatable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    public let segments: [Segment]
    public let text: String

    /// Parses a pattern; the error says what is wrong.
    public init(_ text: String) throws(ConfigError) {
        guard text.hasPrefix("/") else { throw ConfigError("a route path must start with /") }
        var segments: [Segment] = []
        let parts = text.split(separator: "/", omittingEmptySubsequences: true)
        for (i, part) in parts.enumerated() {
            if part.hasPrefix(":") {
                guard part.count > 1 else { throw ConfigError("\":\" needs a parameter name") }
                segments.append(.parameter(String(part.dropFirst())))
            } else if part.hasPrefix("*") {
                guard i == parts.count - 1 else { throw ConfigError("\"*\" must be the last segment") }
                segments.append(.rest(part.count > 1 ? String(part.dropFirst()) : "*"))
            } else {
                segments.append(.literal(String(part)))
            }
        }
        self.segments = segments
        self.text = text
    }

    public var description: String { text }

    /// The parameters when `path` matches (segments are percent-decoded).
    public func match(_ path: String) -> [(String, String)]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var parameters: [(String, String)] = []
        for (i, segment) in segments.enumerated() {
            switch segment {
            case .literal(let literal):
                guard i < parts.count, parts[i] == literal else { return nil }
            case .parameter(let name):
                guard i < parts.count, let value = PercentEncoding.decode(parts[i]) else { return nil }
                parameters.append((name, value))
            case .rest(let name):
                let rest = parts[i...].joined(separator: "/")
                guard let value = PercentEncoding.decode(rest) else { return nil }
                parameters.append((name, value))
                return parameters
            }
        }
        return parts.count == segments.count ? parameters : nil
    }

    /// Two patterns clash when some path would match both with the same precedence:
    /// same length and kind at every position (literals equal). Literals outrank parameters,
    /// which outrank `*`, so other overlaps are ordered, not ambiguous.
    public func clashes(with other: RoutePattern) -> Bool {
        guard segments.count == other.segments.count else { return false }
        for (a, b) in zip(segments, other.segments) {
            switch (a, b) {
            case (.literal(let x), .literal(let y)): if x != y { return false }
            case (.parameter, .parameter), (.rest, .rest): continue
            default: return false
            }
        }
        return true
    }

    /// Sort key: more specific patterns first (literal < parameter < rest at the first difference).
    var rank: [Int] {
        segments.map {
            switch $0 {
            case .literal: 0
            case .parameter: 1
            case .rest: 2
            }
        }
    }
}
