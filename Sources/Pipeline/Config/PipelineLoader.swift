/// Decodes pipeline.json (DESIGN.md §4) into a `LoadedPipeline`, collecting every error and warning
/// with its JSON pointer. Nothing is half-built: any error means no pipeline.
public enum PipelineLoader {
    static let topLevelKeys = ["version", "listeners", "sources", "middlewares", "stacks", "run", "workers", "drainTimeout", "signedURLs", "drainDelay"]
    static let listenerKeys = ["name", "listen", "tls", "protocols", "trustForwardedFrom", "limits", "timeouts", "http2",
                               "proxyProtocol", "trustProxyFrom"]
    static let stackKeys = ["match", "chain", "maxBodyBytes", "listeners", "timeout", "anonymous"]
    static let matchKeys = ["host", "pathPrefix", "method"]

    /// Loads from JSON text. The result has a pipeline exactly when `diagnostics` has no errors.
    public static func load(_ bytes: [UInt8], environment: ConfigEnvironment, registry: TypeRegistry)
        -> (pipeline: LoadedPipeline?, diagnostics: Diagnostics) {
        let diagnostics = Diagnostics()
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            diagnostics.error(.root, "invalid JSON: \(error)")
            return (nil, diagnostics)
        }
        guard case .object(let object) = root else {
            diagnostics.error(.root, "expected an object, got \(root.typeName)")
            return (nil, diagnostics)
        }
        let options = Options(object, at: .root, allowed: topLevelKeys, diagnostics: diagnostics, environment: environment)
        let context = BuildContext(diagnostics: diagnostics, environment: environment, registry: registry)

        if let version = options.int("version", required: true), version != 1 {
            options.error("version", "unsupported version \(version); this gateway reads version 1")
        }
        let workers = options.int("workers", default: 0, range: 0...256)
        let drainTimeout = options.duration("drainTimeout", default: .seconds(30))
        let listeners = loadListeners(options)
        if let signer = loadSignedURLs(options) { context.urlSigner = signer }

        for (name, value, _) in options.map("sources") { context.sourceValues[name] = value }
        for (name, value, _) in options.map("middlewares") { context.namedValues[name] = value }
        // Build every source and named middleware, used or not, so all their mistakes show at once.
        for name in context.sourceValues.keys.sorted() where context.builtSources[name] == nil {
            _ = context.buildSource(name)
        }
        for name in object["middlewares"]?.object?.keys ?? [] {
            _ = context.named(name, at: JSONPointer(["middlewares", name]))
        }

        let stacks = loadStacks(options, context: context, listenerNames: listeners.map(\.name))
        let order = runOrder(options, stacks: stacks.map(\.name), declared: object["stacks"]?.object?.keys ?? [])
        let running = order.compactMap { name in stacks.first { $0.name == name } }

        // Reporting not-ready before draining only helps when something can read it: without a
        // readiness endpoint the default is no delay.
        let drainDelay = options.duration("drainDelay", default: context.shared[Readiness.endpointKey] != nil ? .seconds(5) : .zero)

        guard !diagnostics.hasErrors else {
            // What was built before (or beside) the failure may have started work: it has no owner now.
            stopAbandoned(context.stoppables)
            return (nil, diagnostics)
        }
        let pipeline = LoadedPipeline(listeners: listeners, stacks: running, workers: workers, drainTimeout: drainTimeout,
                                      warnings: diagnostics.warnings, stoppables: context.stoppables,
                                      metricsSources: context.metricsSources, drainDelay: drainDelay)
        return (pipeline, diagnostics)
    }

    /// Stops the values of a load that failed, in the background (a load is synchronous).
    static func stopAbandoned(_ values: [any Stoppable]) {
        guard !values.isEmpty else { return }
        Task.detached {
            for value in values { await value.stop() }
        }
    }

    static func loadListeners(_ options: Options) -> [ListenerConfig] {
        let entries = options.objects("listeners", allowed: listenerKeys, required: true)
        if options.has("listeners"), entries.isEmpty, options.raw("listeners")?.array?.isEmpty == true {
            options.error("listeners", "at least one listener is required")
        }
        var result: [ListenerConfig] = []
        var seenNames: Set<String> = []
        var seenAddresses: [SocketAddress: JSONPointer] = [:]
        for (index, entry) in entries.enumerated() {
            let name = entry.string("name") ?? "listener\(index)"
            if !seenNames.insert(name).inserted { entry.error("name", "duplicate listener name \"\(name)\"") }
            var addresses: [SocketAddress] = []
            let listen = entry.strings("listen", required: true)
            for text in listen {
                guard let parsed = SocketAddress.listenAddresses(text) else {
                    entry.error("listen", "\"\(text)\" is not an address such as \"0.0.0.0:8443\", \"[::1]:8443\", \"localhost:8443\" or \":8080\"")
                    continue
                }
                for address in parsed {
                    // Port 0 asks the kernel for a free port: several listeners may do so on one address.
                    if address.port != 0, let other = seenAddresses[address] {
                        entry.error("listen", "\(address) is already used by \(other)")
                    }
                    seenAddresses[address] = entry.pointer
                }
                addresses += parsed
            }
            let isTLS = entry.has("tls")
            var protocols = entry.strings("protocols")
            if protocols.isEmpty { protocols = isTLS ? ListenerConfig.defaultTLSProtocols : ["http/1.1"] }
            for proto in protocols where !["http/1.1", "h2"].contains(proto) {
                entry.error("protocols", "unknown protocol \"\(proto)\" (use \"http/1.1\" and \"h2\")" + DidYouMean.hint(for: proto, among: ["http/1.1", "h2"]))
            }
            var trusted: [CIDR] = []
            for text in entry.strings("trustForwardedFrom") {
                if let cidr = CIDR(text) { trusted.append(cidr) } else { entry.error("trustForwardedFrom", "\"\(text)\" is not an address or CIDR range") }
            }
            let proxyProtocol = entry.bool("proxyProtocol", default: false)
            var proxies: [CIDR] = []
            for text in entry.strings("trustProxyFrom") {
                if let cidr = CIDR(text) { proxies.append(cidr) } else { entry.error("trustProxyFrom", "\"\(text)\" is not an address or CIDR range") }
            }
            if proxyProtocol, !entry.has("trustProxyFrom") {
                entry.error("proxyProtocol", "needs \"trustProxyFrom\": the addresses of the load balancers that send the header")
            } else if !proxyProtocol, entry.has("trustProxyFrom") {
                entry.error("trustProxyFrom", "has no effect without \"proxyProtocol\": true")
            }
            var limits = HTTPLimits()
            if let nested = entry.object("limits", allowed: ["maxHeaderBytes", "maxHeaderCount", "maxURIBytes"]) {
                limits.maxHeaderBytes = nested.size("maxHeaderBytes", default: limits.maxHeaderBytes)
                limits.maxHeaderCount = nested.int("maxHeaderCount", default: limits.maxHeaderCount, range: 1...10_000)
                limits.maxURIBytes = nested.size("maxURIBytes", default: limits.maxURIBytes)
            }
            var timeouts = Timeouts()
            if let nested = entry.object("timeouts", allowed: ["requestHead", "bodyIdle", "keepAlive", "sendIdle"]) {
                timeouts.requestHead = nested.duration("requestHead", default: timeouts.requestHead)
                timeouts.bodyIdle = nested.duration("bodyIdle", default: timeouts.bodyIdle)
                timeouts.keepAlive = nested.duration("keepAlive", default: timeouts.keepAlive)
                timeouts.sendIdle = nested.duration("sendIdle", default: timeouts.sendIdle)
            }
            var http2 = HTTP2Settings()
            if let nested = entry.object("http2", allowed: ["maxConcurrentStreams", "maxHeaderListBytes", "initialWindowBytes",
                                                            "maxResetsPerSecond", "maxControlFramesPerSecond"]) {
                http2.maxConcurrentStreams = nested.int("maxConcurrentStreams", default: http2.maxConcurrentStreams, range: 1...100_000)
                http2.maxHeaderListBytes = nested.size("maxHeaderListBytes", default: http2.maxHeaderListBytes)
                if !(1024...(16 << 20)).contains(http2.maxHeaderListBytes) {
                    nested.error("maxHeaderListBytes", "must be between 1KiB and 16MiB")
                }
                http2.initialWindowBytes = nested.int("initialWindowBytes", default: http2.initialWindowBytes, range: 1024...(1 << 31 - 1))
                http2.maxResetsPerSecond = nested.int("maxResetsPerSecond", default: http2.maxResetsPerSecond, range: 1...1_000_000)
                http2.maxControlFramesPerSecond = nested.int("maxControlFramesPerSecond", default: http2.maxControlFramesPerSecond,
                                                             range: 10...1_000_000)
            }
            var tls: TLSServerContext?
            if let tlsOptions = entry.object("tls", allowed: ["certificate", "key", "certificates"]) {
                tls = loadTLS(tlsOptions, protocols: protocols)
            }
            result.append(ListenerConfig(name: name, addresses: addresses, tls: tls, protocols: protocols, trustForwardedFrom: trusted,
                                         limits: limits, timeouts: timeouts, http2: http2, proxyProtocol: proxyProtocol,
                                         trustProxyFrom: proxies))
        }
        return result
    }

    static func loadTLS(_ options: Options, protocols: [String]) -> TLSServerContext? {
        let errorsBefore = options.diagnostics.errorCount
        var pairs: [(certificate: String, key: String)] = []
        // Where each pair was given, so a file that cannot be used is reported at its own option.
        var owners: [Options] = []
        if options.has("certificate") || options.has("key") {
            if let certificate = options.path("certificate", required: true), let key = options.path("key", required: true) {
                pairs.append((certificate, key))
                owners.append(options)
            }
        }
        for entry in options.objects("certificates", allowed: ["certificate", "key"]) {
            if let certificate = entry.path("certificate", required: true), let key = entry.path("key", required: true) {
                pairs.append((certificate, key))
                owners.append(entry)
            }
        }
        guard !pairs.isEmpty else {
            // Only when nothing more precise was said about this object (a missing key, say).
            if options.diagnostics.errorCount == errorsBefore { options.error(nil, "give \"certificate\" and \"key\", or \"certificates\": [{\"certificate\", \"key\"}, ...]") }
            return nil
        }
        do {
            return try TLSServerContext(certificates: pairs, protocols: protocols)
        } catch let failure as TLSServerContext.FileErrors {
            for error in failure.errors { owners[error.index].error(error.option, error.description) }
            return nil
        } catch {
            options.error(nil, "\(error)")
            return nil
        }
    }

    static func loadStacks(_ options: Options, context: BuildContext, listenerNames: [String]) -> [CompiledStack] {
        var result: [CompiledStack] = []
        guard options.has("stacks") else {
            options.error("stacks", "required")
            return []
        }
        for (name, value, pointer) in options.map("stacks") {
            guard case .object(let object) = value else {
                options.diagnostics.error(pointer, "expected an object with \"match\" and \"chain\", got \(value.typeName)")
                continue
            }
            let stack = Options(object, at: pointer, allowed: stackKeys, diagnostics: options.diagnostics, environment: options.environment)
            var matches: [StackMatch] = []
            for match in stack.objects("match", allowed: matchKeys) {
                let prefixes = match.strings("pathPrefix")
                for prefix in prefixes where !prefix.hasPrefix("/") { match.error("pathPrefix", "\"\(prefix)\" must start with /") }
                matches.append(StackMatch(hosts: match.strings("host"), pathPrefixes: prefixes, methods: match.strings("method").map(HTTPMethod.init(rawValue:))))
            }
            let maxBody = stack.size("maxBodyBytes", default: 1 << 20)
            let timeout = stack.duration("timeout", default: .seconds(300))
            var listeners: [String]?
            if stack.has("listeners") {
                listeners = stack.strings("listeners")
                for listener in listeners! where !listenerNames.contains(listener) {
                    stack.error("listeners", "unknown listener \"\(listener)\"" + DidYouMean.hint(for: listener, among: listenerNames))
                }
            }
            let anonymous = stack.strings("anonymous")
            for pattern in anonymous {
                if let problem = PathPatterns.problem(with: pattern) { stack.error("anonymous", problem) }
            }
            context.beginStack(name, anonymous: PathPatterns(anonymous), pathPrefixes: matches.flatMap(\.pathPrefixes))
            let chain = context.chain(object["chain"], at: pointer.appending("chain"))
            context.endStack()
            if let chain {
                result.append(CompiledStack(name: name, matches: matches, chain: chain, maxBodyBytes: maxBody, listeners: listeners,
                                            requestTimeout: timeout))
            }
        }
        return result
    }

    /// `"signedURLs": {"keys": [{"id": "k1", "secretFile": "..."}], "ttl": "5m"}`: the first key
    /// signs, every key verifies. Nil when absent (an ephemeral key is used then).
    static func loadSignedURLs(_ options: Options) -> URLSigner? {
        guard let signed = options.object("signedURLs", allowed: ["keys", "ttl"]) else { return nil }
        let ttl = signed.duration("ttl", default: .seconds(300))
        if ttl < .seconds(1) || ttl > .seconds(86400) { signed.error("ttl", "must be between 1s and 24h") }
        var keys: [URLSigner.Key] = []
        let entries = signed.objects("keys", allowed: ["id", "secret", "secretFile"], required: true)
        if signed.has("keys"), entries.isEmpty { signed.error("keys", "at least one key is required") }
        for entry in entries {
            guard let id = entry.string("id", required: true) else { continue }
            if !URLSigner.isValidKeyID(id) { entry.error("id", "use 1 to 32 characters of A-Z a-z 0-9 . _ -") }
            if keys.contains(where: { $0.id == id }) { entry.error("id", "duplicate key id \"\(id)\"") }
            guard let secret = entry.secret("secret", required: true) else { continue }
            if secret.bytes.count < URLSigner.minimumSecretBytes {
                entry.error(entry.has("secret") ? "secret" : "secretFile",
                            "too short: use at least \(URLSigner.minimumSecretBytes) characters (e.g. `openssl rand -hex 32`)")
            }
            keys.append(URLSigner.Key(id: id, secret: secret.bytes))
        }
        guard !keys.isEmpty else { return nil }
        return URLSigner(keys: keys, ttl: ttl)
    }

    static func runOrder(_ options: Options, stacks: [String], declared: [String]) -> [String] {
        guard options.has("run") else { return declared }
        let run = options.strings("run")
        var seen: Set<String> = []
        for (i, name) in run.enumerated() {
            if !declared.contains(name) {
                options.diagnostics.error(options.pointer.appending("run").appending(i),
                                          "unknown stack \"\(name)\"" + DidYouMean.hint(for: name, among: declared))
            }
            if !seen.insert(name).inserted {
                options.diagnostics.error(options.pointer.appending("run").appending(i), "stack \"\(name)\" listed twice")
            }
        }
        for name in declared where !run.contains(name) {
            options.diagnostics.warning(JSONPointer(["stacks", name]), "not listed in \"run\", so it serves nothing")
        }
        return run
    }
}
