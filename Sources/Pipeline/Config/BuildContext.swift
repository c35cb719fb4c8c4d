import Synchronization

/// What a factory may use while it builds: the diagnostics, the environment, the sources
/// and named middlewares of the same load, and nested chains (for routers).
public final class BuildContext: @unchecked Sendable {
    // A load runs on one thread; the mutable state below is touched only there.
    public let diagnostics: Diagnostics
    public let environment: ConfigEnvironment
    public let registry: TypeRegistry
    /// The stack being built, when a chain is being built for one.
    public internal(set) var stackName: String?
    /// The `pathPrefix`es of the stack being built (every match's), for a behaviour whose
    /// protocol lives at the stack's root (an APT repository at `/apt/`).
    public internal(set) var stackPathPrefixes: [String] = []

    var sourceValues: [String: JSONValue] = [:]
    var builtSources: [String: any Source] = [:]
    var failedSources: Set<String> = []
    var namedValues: [String: JSONValue] = [:]
    var builtNamed: [String: (type: MiddlewareType, value: any Middleware)] = [:]
    var failedNamed: Set<String> = []
    var building: [String] = []
    var stoppables: [any Stoppable] = []
    var metricsSources: [any MetricsSource] = []
    /// For each chain element being built (nested for routers): the downstreams its factory asked for.
    private var requestedDownstreams: [[Downstream]] = []
    /// The downstreams a named middleware asked for when it was built, for each chain that uses it.
    private var namedDownstreams: [String: [Downstream]] = [:]
    /// Values shared by the middlewares of one load, keyed by a name a feature chooses
    /// (for example the URL signer that behaviours and auth both use).
    public var shared: [String: any Sendable] = [:]
    /// Verifies signed URLs in every auth gate of this load (top-level `signedURLs`; a random
    /// per-process key when none are configured).
    public internal(set) var urlSigner: URLSigner = .ephemeral()
    var warnedEphemeralSigner = false
    /// For each chain being built (nested for routers): whether an auth-phase middleware came
    /// before the element now being built.
    private var authSeen: [Bool] = []
    /// The `anonymous` paths of the stack being built, as configured (chain rules read them).
    var stackAnonymous = PathPatterns()
    /// Every middleware built for the stack being built so far, nested chains included.
    private var stackMembers: [any Middleware] = []

    /// Whether the middleware being built sits behind an auth-phase middleware (in its chain or an
    /// enclosing one): a behaviour then signs the download URLs it hands out.
    public var isBehindAuth: Bool { authSeen.contains(true) }

    /// Starts building the stack `name` (its `anonymous` paths as configured).
    func beginStack(_ name: String, anonymous: PathPatterns, pathPrefixes: [String] = []) {
        stackName = name
        stackPathPrefixes = pathPrefixes
        stackAnonymous = anonymous
        stackMembers = []
    }

    func endStack() {
        stackName = nil
        stackPathPrefixes = []
        stackAnonymous = PathPatterns()
        stackMembers = []
    }

    init(diagnostics: Diagnostics, environment: ConfigEnvironment, registry: TypeRegistry) {
        self.diagnostics = diagnostics
        self.environment = environment
        self.registry = registry
    }

    /// The signer for a behaviour that mints URLs (built at `pointer`). Warns once when no keys are
    /// configured, because then URLs made by one replica fail on the others and after a restart.
    public func signerForMinting(at pointer: JSONPointer) -> URLSigner {
        if urlSigner.isEphemeral, !warnedEphemeralSigner {
            warnedEphemeralSigner = true
            diagnostics.warning(pointer, "mints signed URLs but pipeline.json has no \"signedURLs\" keys: a random key of this process "
                + "is used, so its URLs fail on other replicas and after a restart")
        }
        return urlSigner
    }

    /// The rest of the chain after the middleware being built, bound once its chain is folded: for
    /// fetches a behaviour makes outside a request (they then pass the stack's cache like any other).
    public func downstream() -> Downstream {
        let downstream = Downstream()
        if !requestedDownstreams.isEmpty { requestedDownstreams[requestedDownstreams.count - 1].append(downstream) }
        return downstream
    }

    /// Keeps `value` so it is stopped when its pipeline is replaced, or at once when the load fails.
    /// Sources and middlewares that are `Stoppable` are kept without asking; a value made inside a
    /// build (a view, a helper with a task) is kept by its owner's `stop` or passed here.
    public func retain(_ value: any Stoppable) {
        if !stoppables.contains(where: { ($0 as AnyObject) === (value as AnyObject) }) { stoppables.append(value) }
    }

    /// Shows `source`'s series on `/metrics` while the pipeline being built serves (from its
    /// activation until another pipeline replaces it); nothing is shown for a load that fails.
    /// Label its series with the JSON pointer of what it measures (`options.pointer`).
    public func metrics(_ source: any MetricsSource) { metricsSources.append(source) }

    /// The source called `name`, when it exists and is a `T`. Reports a missing name or a wrong type
    /// at `pointer`; says nothing more when the source itself failed to build (already reported).
    public func source<T>(_ name: String, as type: T.Type, at pointer: JSONPointer, expected: String) -> T? {
        if failedSources.contains(name) { return nil }
        guard let source = builtSources[name] ?? buildSource(name) else {
            if failedSources.contains(name) { return nil }
            diagnostics.error(pointer, "unknown source \"\(name)\"" + DidYouMean.hint(for: name, among: sourceValues.keys))
            return nil
        }
        guard let typed = source as? T else {
            diagnostics.error(pointer, "source \"\(name)\" cannot serve here: expected \(expected)")
            return nil
        }
        return typed
    }

    func buildSource(_ name: String) -> (any Source)? {
        guard let value = sourceValues[name] else { return nil }
        let pointer = JSONPointer(["sources", name])
        let before = diagnostics.errorCount
        guard case .object(let object) = value else {
            diagnostics.error(pointer, "expected an object, got \(value.typeName)")
            failedSources.insert(name)
            return nil
        }
        guard let typeName = object["type"]?.string else {
            diagnostics.error(pointer.appending("type"), "required: one of \(registry.sources.keys.sorted().joined(separator: ", "))")
            failedSources.insert(name)
            return nil
        }
        guard let type = registry.sources[typeName] else {
            diagnostics.error(pointer.appending("type"), "unknown source type \"\(typeName)\"" + DidYouMean.hint(for: typeName, among: registry.sources.keys))
            failedSources.insert(name)
            return nil
        }
        let options = Options(object, at: pointer, allowed: OptionSpec.keys(type.options), diagnostics: diagnostics, environment: environment)
        do {
            let source = try type.build(options, self)
            guard diagnostics.errorCount == before else {
                failedSources.insert(name)
                return nil
            }
            builtSources[name] = source
            if let stoppable = source as? any Stoppable { retain(stoppable) }
            return source
        } catch {
            report(error, at: pointer)
            failedSources.insert(name)
            return nil
        }
    }

    func report(_ error: any Error, at pointer: JSONPointer) {
        if let config = error as? ConfigError {
            diagnostics.error(config.pointer ?? pointer, config.message)
        } else {
            diagnostics.error(pointer, "\(error)")
        }
    }

    /// One element of a chain: the name of an entry in `middlewares` or an inline object with `type`.
    func element(_ value: JSONValue, at pointer: JSONPointer) -> (type: MiddlewareType, value: any Middleware)? {
        let built: (type: MiddlewareType, value: any Middleware)?
        switch value {
        case .string(let name):
            built = named(name, at: pointer)
        case .object(let object):
            built = inline(object, at: pointer)
        default:
            diagnostics.error(pointer, "expected a middleware name or an object with \"type\", got \(value.typeName)")
            built = nil
        }
        if let built { stackMembers.append(built.value) }
        return built
    }

    func named(_ name: String, at pointer: JSONPointer) -> (type: MiddlewareType, value: any Middleware)? {
        if let built = builtNamed[name] {
            if let downstreams = namedDownstreams[name], !requestedDownstreams.isEmpty {
                requestedDownstreams[requestedDownstreams.count - 1] += downstreams
            }
            return built
        }
        if failedNamed.contains(name) { return nil }
        guard let value = namedValues[name] else {
            var hint = DidYouMean.hint(for: name, among: namedValues.keys)
            if hint.isEmpty, registry.middlewares[name] != nil { hint = " (to use the type, write {\"type\": \"\(name)\"})" }
            diagnostics.error(pointer, "unknown middleware \"\(name)\"" + hint)
            return nil
        }
        if building.contains(name) {
            diagnostics.error(pointer, "recursion: " + (building + [name]).joined(separator: " -> "))
            return nil
        }
        building.append(name)
        defer { building.removeLast() }
        let namedPointer = JSONPointer(["middlewares", name])
        guard case .object(let object) = value else {
            diagnostics.error(namedPointer, "expected an object with \"type\", got \(value.typeName)")
            failedNamed.insert(name)
            return nil
        }
        // Named middlewares are built before any stack: what they ask for goes to each chain using them.
        requestedDownstreams.append([])
        let built = inline(object, at: namedPointer)
        let downstreams = requestedDownstreams.removeLast()
        guard let built else {
            failedNamed.insert(name)
            return nil
        }
        builtNamed[name] = built
        namedDownstreams[name] = downstreams
        if !requestedDownstreams.isEmpty { requestedDownstreams[requestedDownstreams.count - 1] += downstreams }
        return built
    }

    func inline(_ object: JSONObject, at pointer: JSONPointer) -> (type: MiddlewareType, value: any Middleware)? {
        guard let typeValue = object["type"] else {
            diagnostics.error(pointer.appending("type"), "required")
            return nil
        }
        guard case .string(let typeName) = typeValue else {
            diagnostics.error(pointer.appending("type"), "expected a string, got \(typeValue.typeName)")
            return nil
        }
        guard let type = registry.middlewares[typeName] else {
            diagnostics.error(pointer.appending("type"), "unknown type \"\(typeName)\"" + DidYouMean.hint(for: typeName, among: registry.middlewares.keys))
            return nil
        }
        let before = diagnostics.errorCount
        let options = Options(object, at: pointer, allowed: OptionSpec.keys(type.options), diagnostics: diagnostics, environment: environment)
        do {
            let middleware = try type.build(options, self)
            guard diagnostics.errorCount == before else { return nil }
            if let stoppable = middleware as? any Stoppable { retain(stoppable) }
            return (type, middleware)
        } catch {
            report(error, at: pointer)
            return nil
        }
    }

    /// Builds a chain from a JSON array with every check a stack's chain gets: exactly one terminal,
    /// and it comes last; phase order warnings. Routers use it for their routes' chains.
    public func chain(_ value: JSONValue?, at pointer: JSONPointer) -> Chain? {
        guard let value else {
            diagnostics.error(pointer, "required")
            return nil
        }
        guard case .array(let items) = value else {
            diagnostics.error(pointer, "expected a list of middlewares, got \(value.typeName)")
            return nil
        }
        guard !items.isEmpty else {
            diagnostics.error(pointer, "a chain needs at least one middleware (and must end in a terminal one)")
            return nil
        }
        var built: [(type: MiddlewareType, value: any Middleware, pointer: JSONPointer)] = []
        var taps: [(after: Int, downstream: Downstream)] = []
        var failed = false
        authSeen.append(false)
        defer { authSeen.removeLast() }
        for (i, item) in items.enumerated() {
            requestedDownstreams.append([])
            let element = element(item, at: pointer.appending(i))
            for downstream in requestedDownstreams.removeLast() {
                if downstream.isBound {
                    diagnostics.warning(pointer.appending(i), "also used in another chain: what it fetches in the background goes through the first chain's cache")
                }
                if element != nil { taps.append((built.count, downstream)) }
            }
            if let element {
                built.append((element.type, element.value, pointer.appending(i)))
                if element.type.phase == .auth { authSeen[authSeen.count - 1] = true }
            } else {
                failed = true
            }
        }
        // Terminal checks run on what could be built, so one mistake does not hide another.
        let terminals = built.filter { $0.type.isTerminal }
        for extra in terminals.dropLast() {
            diagnostics.error(extra.pointer, "\"\(extra.type.name)\" ends a chain, so it must be last")
        }
        if !failed {
            if terminals.isEmpty {
                let terminalNames = registry.middlewares.values.filter(\.isTerminal).map(\.name).sorted()
                diagnostics.error(pointer, "the chain must end in a terminal middleware (one of \(terminalNames.joined(separator: ", ")))")
            } else if let last = terminals.last, last.pointer != built.last?.pointer {
                diagnostics.error(last.pointer, "\"\(last.type.name)\" ends a chain, so it must be last")
            }
        }
        for (i, later) in built.enumerated() {
            if let earlier = built[..<i].first(where: { !$0.type.allows(later.type) }) {
                diagnostics.warning(later.pointer, "\"\(later.type.name)\" (\(later.type.phase)) runs after \"\(earlier.type.name)\" (\(earlier.type.phase)); "
                    + Self.phaseAdvice(earlier.type.phase, later.type.phase))
            }
        }
        if failed { return nil }
        // Each downstream starts right after the element that asked for it; `Chain` binds it there.
        var elements: [ChainElement] = []
        for (i, element) in built.enumerated() {
            elements.append(ChainElement(element.value, at: element.pointer))
            for tap in taps where tap.after == i {
                elements.append(ChainElement(DownstreamTap(downstream: tap.downstream, stack: stackName ?? ""), at: element.pointer))
            }
        }
        // The registry's rules (auth composition among them) rewrite the chain; the engine does not know what they do.
        let stack = StackBuild(name: stackName ?? "", anonymous: stackAnonymous, members: stackMembers)
        for rule in registry.chainRules { elements = rule.apply(elements, stack, self) }
        return Chain(elements.map(\.value))
    }

    static func phaseAdvice(_ earlier: Phase, _ later: Phase) -> String {
        switch (earlier, later) {
        case (.cache, .auth): "a cache before auth serves private answers to anyone"
        case (_, .observe): "a log placed late misses what earlier middlewares answer"
        default: "the usual order is log, tls, auth, cache, behaviour, upstream"
        }
    }
}
