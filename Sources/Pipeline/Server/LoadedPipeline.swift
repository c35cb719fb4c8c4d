/// Which requests a stack takes: all hosts and path prefixes of one set must match
/// (an empty list matches anything); several sets are alternatives.
public struct StackMatch: Sendable {
    /// Lower-case host names; `*.example.com` matches any subdomain.
    public let hosts: [String]
    public let pathPrefixes: [String]
    public let methods: [HTTPMethod]

    public init(hosts: [String] = [], pathPrefixes: [String] = [], methods: [HTTPMethod] = []) {
        self.hosts = hosts.map { $0.lowercasedASCII() }
        self.pathPrefixes = pathPrefixes
        self.methods = methods
    }

    public func matches(_ request: Request) -> Bool {
        if !methods.isEmpty, !methods.contains(request.method) { return false }
        if !pathPrefixes.isEmpty, !pathPrefixes.contains(where: { request.path.hasPrefix($0) }) { return false }
        if !hosts.isEmpty {
            let host = request.host
            return hosts.contains { pattern in
                if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst()) && host.count > pattern.count - 1 }
                return pattern == host
            }
        }
        return true
    }
}

/// A stack ready to serve: its match, its folded chain and its per-stack limits.
public struct CompiledStack: Sendable {
    public let name: String
    public let matches: [StackMatch]
    public let chain: Chain
    public let maxBodyBytes: Int
    /// Listener names the stack serves; nil serves all.
    public let listeners: [String]?
    /// How long a request may take before its upstream calls give up.
    public let requestTimeout: Duration

    public init(name: String, matches: [StackMatch], chain: Chain, maxBodyBytes: Int = 1 << 20,
                listeners: [String]? = nil, requestTimeout: Duration = .seconds(300)) {
        self.name = name
        self.matches = matches
        self.chain = chain
        self.maxBodyBytes = maxBodyBytes
        self.listeners = listeners
        self.requestTimeout = requestTimeout
    }

    public func accepts(_ request: Request, on listener: String) -> Bool {
        if let listeners, !listeners.contains(listener) { return false }
        return matches.isEmpty || matches.contains { $0.matches(request) }
    }
}

/// Everything one load of pipeline.json produced, immutable once built. The server swaps the
/// whole value on reload; requests in flight keep the one they started with.
public final class LoadedPipeline: Sendable {
    public let listeners: [ListenerConfig]
    /// Stacks in `run` order: the first that accepts a request handles it.
    public let stacks: [CompiledStack]
    public let workers: Int
    public let drainTimeout: Duration
    /// How long `/readyz` reports 503 on SIGTERM while the server goes on serving, before the drain.
    public let drainDelay: Duration
    public let warnings: [ConfigIssue]
    /// The values with background work this load built: stopped when another pipeline replaced
    /// this one and its requests drained (or when it never started serving).
    public let stoppables: [any Stoppable]
    /// The series this load adds to `/metrics` once it serves.
    public let metricsSources: [any MetricsSource]

    public init(listeners: [ListenerConfig], stacks: [CompiledStack], workers: Int = 0, drainTimeout: Duration = .seconds(30),
                warnings: [ConfigIssue] = [], stoppables: [any Stoppable] = [], metricsSources: [any MetricsSource] = [],
                drainDelay: Duration = .zero) {
        self.metricsSources = metricsSources
        self.listeners = listeners
        self.stacks = stacks
        self.workers = workers
        self.drainTimeout = drainTimeout
        self.drainDelay = drainDelay
        self.warnings = warnings
        self.stoppables = stoppables
    }

    public func stack(for request: Request, listener: String) -> CompiledStack? {
        stacks.first { $0.accepts(request, on: listener) }
    }

    /// Makes this pipeline's sources what `/metrics` shows (the server calls it when the pipeline
    /// starts serving: at start and after a reload's swap).
    public func activateMetrics(in registry: MetricsRegistry = .shared) {
        registry.activate(metricsSources)
    }

    /// Stops background work of the middlewares (refreshers, disk indexes) of this load.
    public func stop() async {
        for stoppable in stoppables { await stoppable.stop() }
    }
}
