import Pipeline

/// The endpoints a behaviour matches inside itself: path patterns with named parts (`RoutePattern`:
/// `:name` for one segment, `*name` for several) mapped to the behaviour's own values, the most
/// specific pattern first. Paths are matched strictly: an empty segment (`//`, a trailing `/`) or
/// a segment that does not percent-decode matches nothing.
///
/// ```swift
/// enum Endpoint { case versions, download }
/// static let routes = RouteTable<Endpoint>([
///     ("/modules/:namespace/:name/:system/versions", .versions),
///     ("/modules/:namespace/:name/:system/:version/download", .download),
/// ])
/// guard let found = Self.routes.match(path) else { return notFound }
/// switch found.route { case .versions: versions(found["namespace"], ...) ... }
/// ```
public struct RouteTable<Route: Sendable>: Sendable {
    let routes: [(pattern: RoutePattern, route: Route)]

    /// The patterns are the behaviour's own constants: a malformed one stops the program.
    public init(_ routes: [(String, Route)]) {
        let parsed = routes.map { text, route -> (pattern: RoutePattern, route: Route) in
            do {
                return (try RoutePattern(text), route)
            } catch {
                preconditionFailure("route \(text): \(error)")
            }
        }
        // Stable: patterns of equal rank keep the order given.
        self.routes = parsed.enumerated().sorted { a, b in
            a.element.pattern.rank == b.element.pattern.rank ? a.offset < b.offset
                : a.element.pattern.rank.lexicographicallyPrecedes(b.element.pattern.rank)
        }.map(\.element)
    }

    /// The first route whose pattern matches `path` (which starts with `/`), with its parts.
    public func match(_ path: some StringProtocol) -> RouteMatch<Route>? {
        guard path.hasPrefix("/") else { return nil }
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { Substring($0) }
        guard segments.allSatisfy({ !$0.isEmpty }) else { return nil }
        for (pattern, route) in routes {
            if let parameters = pattern.match(segments: segments) { return RouteMatch(route: route, parameters: parameters) }
        }
        return nil
    }
}

/// A matched route and the values of its named parts (percent-decoded).
public struct RouteMatch<Route: Sendable>: Sendable {
    public let route: Route
    public let parameters: [(String, String)]

    /// The value of the part `name`; empty for a name the pattern does not have.
    public subscript(_ name: String) -> String {
        parameters.last { $0.0 == name }?.1 ?? ""
    }
}
