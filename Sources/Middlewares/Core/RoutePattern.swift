import Pipeline

/// A route path such as `/v1/modules/:namespace/:name/*`: literal segments, `:name` for one
/// segment, and once `*` (or `*name`) for several: as the last segment the rest of the path (none
/// or more segments), elsewhere one or more segments between what comes before and after it
/// (`/v2/*name/manifests/:reference` for names with slashes).
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
        for part in parts {
            if part.hasPrefix(":") {
                guard part.count > 1 else { throw ConfigError("\":\" needs a parameter name") }
                segments.append(.parameter(String(part.dropFirst())))
            } else if part.hasPrefix("*") {
                guard !segments.contains(where: { if case .rest = $0 { true } else { false } }) else {
                    throw ConfigError("only one \"*\" segment is allowed")
                }
                segments.append(.rest(part.count > 1 ? String(part.dropFirst()) : "*"))
            } else {
                segments.append(.literal(String(part)))
            }
        }
        self.segments = segments
        self.text = text
    }

    public var description: String { text }

    /// The parameters when `path` matches (empty segments are skipped; values are percent-decoded).
    public func match(_ path: String) -> [(String, String)]? {
        match(segments: path.split(separator: "/", omittingEmptySubsequences: true))
    }

    /// The parameters when the path segments `parts` match (values are percent-decoded).
    public func match(segments parts: [Substring]) -> [(String, String)]? {
        guard let restIndex = segments.firstIndex(where: { if case .rest = $0 { true } else { false } }) else {
            guard parts.count == segments.count else { return nil }
            return Self.match(segments[...], parts[...])
        }
        let before = segments[..<restIndex], after = segments[(restIndex + 1)...]
        // A rest in the middle takes at least one segment; at the end it may take none.
        guard parts.count >= before.count + after.count + (after.isEmpty ? 0 : 1),
              var parameters = Self.match(before, parts.prefix(before.count)),
              let following = Self.match(after, parts.suffix(after.count)),
              case .rest(let name) = segments[restIndex],
              let rest = PercentEncoding.decode(parts[before.count..<(parts.count - after.count)].joined(separator: "/")) else { return nil }
        parameters.append((name, rest))
        return parameters + following
    }

    /// Matches segments without a rest one to one.
    private static func match(_ segments: ArraySlice<Segment>, _ parts: ArraySlice<Substring>) -> [(String, String)]? {
        var parameters: [(String, String)] = []
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let literal):
                guard part == literal else { return nil }
            case .parameter(let name):
                guard let value = PercentEncoding.decode(part) else { return nil }
                parameters.append((name, value))
            case .rest:
                return nil
            }
        }
        return parameters
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
