/// Where a middleware belongs in a chain. Out-of-rank order is allowed but warned about
/// (a cache before auth would serve private answers to anyone), unless the earlier type says it
/// may stand there (`MiddlewareType.mayPrecede`).
public enum Phase: Int, Sendable, Comparable, CustomStringConvertible {
    case observe = 0     // log
    case transport = 1   // tls policy
    case auth = 2
    case cache = 3
    case behaviour = 4   // router, files, respond, terraform.registry
    case upstream = 5

    public static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .observe: "observe"
        case .transport: "transport"
        case .auth: "auth"
        case .cache: "cache"
        case .behaviour: "behaviour"
        case .upstream: "upstream"
        }
    }
}

/// One documented option of a type, for `gateway list-types` and for rejecting unknown keys.
public struct OptionSpec: Sendable {
    public let name: String
    /// The value's kind as users write it: `string`, `size`, `duration`, `[string]`, `object`, ...
    public let kind: String
    public let summary: String
    public let required: Bool
    public let defaultValue: String?

    public init(_ name: String, _ kind: String, _ summary: String, required: Bool = false, default defaultValue: String? = nil) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.required = required
        self.defaultValue = defaultValue
    }

    /// The keys a config object of a type may hold: every option's name, and `<name>File` for
    /// options of kind `secret` (`Options.secret` reads either).
    public static func keys(_ options: [OptionSpec]) -> [String] {
        options.flatMap { $0.kind == "secret" ? [$0.name, $0.name + "File"] : [$0.name] }
    }
}

/// A middleware type: its JSON name, documentation, rank, where else it may stand, whether it ends
/// a chain, and the factory that turns options into an immutable value once per load.
public struct MiddlewareType: Sendable {
    public let name: String
    public let summary: String
    public let phase: Phase
    /// Phases of a lower rank this type may stand before without a warning: a behaviour that sends
    /// its upstream requests down its chain says `[.cache]`, so `[behaviour, cache, upstream]`
    /// keeps the objects it fetches.
    public let mayPrecede: Set<Phase>
    public let isTerminal: Bool
    public let options: [OptionSpec]
    public let build: @Sendable (Options, BuildContext) throws -> any Middleware

    /// Whether `later` may come after a middleware of this type without a phase-order warning.
    public func allows(_ later: MiddlewareType) -> Bool {
        later.phase >= phase || mayPrecede.contains(later.phase)
    }

    public init(name: String, summary: String, phase: Phase, mayPrecede: Set<Phase> = [], isTerminal: Bool = false, options: [OptionSpec],
                build: @escaping @Sendable (Options, BuildContext) throws -> any Middleware) {
        self.name = name
        self.summary = summary
        self.phase = phase
        self.mayPrecede = mayPrecede
        self.isTerminal = isTerminal
        self.options = options
        self.build = build
    }
}

/// What behaviours read metadata and artifacts from (`directory`, `github`, `oci`). A source says
/// what it holds through capabilities, protocols refining this one (a file tree, a release feed);
/// a behaviour asks for a capability (`BuildContext.source(_:at:for:views:)`), never for a type.
public protocol Source: Sendable {}

/// A source type: JSON name, documentation, the capabilities its values have and the factory.
public struct SourceType: Sendable {
    public let name: String
    public let summary: String
    /// What its values can do, as behaviours name it when one is missing ("a file tree", "a
    /// release feed"): documentation for `gateway list-types`; the values' protocols are the truth.
    public let capabilities: [String]
    public let options: [OptionSpec]
    public let build: @Sendable (Options, BuildContext) throws -> any Source

    public init(name: String, summary: String, capabilities: [String] = [], options: [OptionSpec],
                build: @escaping @Sendable (Options, BuildContext) throws -> any Source) {
        self.name = name
        self.summary = summary
        self.capabilities = capabilities
        self.options = options
        self.build = build
    }
}

/// Every type pipeline.json may name, assembled in one place (no registration side effects).
public struct TypeRegistry: Sendable {
    public private(set) var middlewares: [String: MiddlewareType] = [:]
    public private(set) var sources: [String: SourceType] = [:]
    /// Rewrites run over every chain built, in order (auth composition is one: `ChainRule.standard`).
    public var chainRules: [ChainRule] = ChainRule.standard

    public init() {}

    public init(middlewares: [MiddlewareType], sources: [SourceType], chainRules: [ChainRule] = ChainRule.standard) {
        for type in middlewares { register(type) }
        for type in sources { register(type) }
        self.chainRules = chainRules
    }

    public mutating func register(_ type: MiddlewareType) {
        precondition(middlewares[type.name] == nil, "middleware type \(type.name) registered twice")
        middlewares[type.name] = type
    }

    public mutating func register(_ type: SourceType) {
        precondition(sources[type.name] == nil, "source type \(type.name) registered twice")
        sources[type.name] = type
    }
}
