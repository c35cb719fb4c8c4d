import Pipeline

/// `router`: routes by path pattern (and optionally method) to a sub-chain per route.
/// Parameters land in `context.parameters`. Literal segments win over `:param`, which wins over
/// `*`; two routes that could match the same request equally are a config error.
public struct Router: Middleware {
    struct Route: Sendable {
        let pattern: RoutePattern
        let methods: [HTTPMethod]
        let chain: Chain
    }

    let routes: [Route]

    public static let type = MiddlewareType(
        name: "router", summary: "Routes paths (with :param and *) to a chain per route.", phase: .behaviour, isTerminal: true,
        options: [OptionSpec("routes", "[object]", "each {\"path\", \"methods\"?, \"chain\"}", required: true)],
        build: { options, context in
            var routes: [Route] = []
            var seen: [(RoutePattern, [HTTPMethod], JSONPointer)] = []
            for route in options.objects("routes", allowed: ["path", "methods", "chain"], required: true) {
                guard let text = route.string("path", required: true) else { continue }
                let pattern: RoutePattern
                do {
                    pattern = try RoutePattern(text)
                } catch {
                    route.error("path", "\(error)")
                    continue
                }
                let methods = route.strings("methods").map { HTTPMethod(rawValue: $0.uppercased()) }
                for (other, otherMethods, pointer) in seen where pattern.clashes(with: other) {
                    let overlap = methods.isEmpty || otherMethods.isEmpty || methods.contains(where: otherMethods.contains)
                    if overlap { route.error("path", "\"\(text)\" clashes with \"\(other.text)\" at \(pointer)") }
                }
                seen.append((pattern, methods, route.pointer))
                if let chain = context.chain(route.raw("chain"), at: route.pointer.appending("chain")) {
                    routes.append(Route(pattern: pattern, methods: methods, chain: chain))
                }
            }
            return Router(routes: routes.sorted { $0.pattern.rank.lexicographicallyPrecedes($1.pattern.rank) })
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        var allowed: [HTTPMethod] = []
        for route in routes {
            guard let parameters = route.pattern.match(request.path) else { continue }
            if !route.methods.isEmpty, !route.methods.contains(request.method) {
                // HEAD is served wherever GET is.
                if !(request.method == .head && route.methods.contains(.get)) {
                    allowed += route.methods
                    continue
                }
            }
            var merged = context.parameters
            for (name, value) in parameters { merged.set(name, value) }
            context.parameters = merged
            return try await route.chain.respond(request, context)
        }
        if !allowed.isEmpty {
            throw HTTPError(.methodNotAllowed, "method not allowed", headers: ["Allow": allowed.map(\.rawValue).joined(separator: ", ")])
        }
        throw HTTPError(.notFound, "not found")
    }
}
