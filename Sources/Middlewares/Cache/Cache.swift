import Pipeline

/// `cache`: a shared HTTP cache (RFC 9111) in front of whatever follows it in the chain. A memory
/// tier (LRU within a byte budget) and an optional disk tier (files that survive restarts) hold
/// whole responses to GET (and answer HEAD and Range from them). Concurrent misses for one key make
/// one upstream fetch that every waiting client streams from as it arrives; a fetch that fails
/// midway aborts those responses and is never kept. Cache-Control (or a targeted field such as
/// CDN-Cache-Control, RFC 9213), Expires and validators are honoured (`ttl` overrides the lifetime),
/// several `Vary` variants of a URL are kept side by side, stale entries are revalidated with
/// ETag/Last-Modified, refreshed in the background within stale-while-revalidate and served when the
/// upstream fails within stale-if-error. Every answer the cache touched says what it did in
/// `Cache-Status` (RFC 9211). Responses to requests with credentials are stored when they are
/// `public`, `s-maxage` or `must-revalidate` (or always, with `cacheAuthenticated`); with Set-Cookie never.
///
/// ```json
/// {"type": "cache", "memory": "128MiB", "disk": "/var/cache/gateway", "maxBytes": "20GiB"}
/// ```
public struct Cache: Middleware, Stoppable {
    let store: CacheStore
    let policy: CachePolicy
    let keyHeaders: [String]
    let xCache: Bool
    let metricsPath: String?
    /// This cache's name in `Cache-Status`; nil when the header is off.
    let statusName: String?
    /// Whether `Cache-Status` carries the cache key.
    let statusKey: Bool
    /// Whether the targeted fields are passed on to clients.
    let forwardTargeted: Bool
    /// The rest of the chain, for refreshes no client waits for (stale-while-revalidate).
    let downstream: Downstream?
    /// The bearer token a PURGE request must carry; nil: PURGE is not the cache's (it passes on).
    let purgeToken: Secret?

    init(store: CacheStore, policy: CachePolicy, keyHeaders: [String], xCache: Bool = false, metricsPath: String? = nil,
         statusName: String? = "gateway", statusKey: Bool = false, forwardTargeted: Bool = false, downstream: Downstream? = nil, purgeToken: Secret? = nil) {
        self.store = store
        self.policy = policy
        self.keyHeaders = keyHeaders
        self.xCache = xCache
        self.metricsPath = metricsPath
        self.statusName = statusName
        self.statusKey = statusKey
        self.forwardTargeted = forwardTargeted
        self.downstream = downstream
        self.purgeToken = purgeToken
    }

    public static let type = MiddlewareType(
        name: "cache", summary: "Caches GET responses in memory and on disk, coalescing concurrent misses into one fetch.",
        phase: .cache,
        options: [
            OptionSpec("memory", "size", "memory tier budget; objects up to 1/8 of it are kept in memory", default: "64MiB"),
            OptionSpec("disk", "path", "directory of the disk tier (created if missing; survives restarts)"),
            OptionSpec("maxBytes", "size", "disk tier budget (with \"disk\")", default: "1GiB"),
            OptionSpec("maxObjectSize", "size", "largest body stored; larger ones pass through uncached",
                       default: "maxBytes/4 with disk, memory/8 without"),
            OptionSpec("ttl", "duration", "freshness for 2xx/301/308 answers, overriding max-age, Expires and no-cache"),
            OptionSpec("staleWhileRevalidate", "duration", "serve an expired entry this long while it is refreshed in the background (when the upstream says nothing)", default: "0"),
            OptionSpec("staleIfError", "duration", "serve an expired entry this long when the upstream fails (when the upstream says nothing)", default: "0"),
            OptionSpec("keyHeaders", "[string]", "request headers whose values are part of the key (e.g. [\"Accept\"])"),
            OptionSpec("cacheAuthenticated", "bool", "store every answer to requests with Authorization or an identity (auth before the cache decides who reads); without it only public, s-maxage or must-revalidate ones", default: "false"),
            OptionSpec("targetedFields", "[string]", "targeted cache-control fields (RFC 9213) that replace Cache-Control and Expires for this cache, first present wins",
                       default: "[\"Gateway-Cache-Control\", \"CDN-Cache-Control\"]"),
            OptionSpec("forwardTargetedFields", "bool", "pass the targeted fields on to clients (for a cache in front of this one)", default: "false"),
            OptionSpec("cacheStatus", "string", "this cache's name in the Cache-Status header (RFC 9211); \"\" leaves the header out", default: "gateway"),
            OptionSpec("cacheStatusKey", "bool", "add the cache key to Cache-Status (key=\"...\"); it shows the URL and keyHeaders values", default: "false"),
            OptionSpec("xCache", "bool", "deprecated, use Cache-Status: also add X-Cache: HIT, MISS or STALE (removed in the next release)", default: "false"),
            OptionSpec("metricsPath", "string", "answer GET on this path with the cache's counters (Prometheus text)"),
            OptionSpec("purgeToken", "secret", "accept PURGE with Authorization: Bearer <token> (or purgeTokenFile): PURGE /path forgets that URL, PURGE /prefix* every URL under it, in both tiers"),
        ],
        build: { options, context in
            let memory = options.size("memory", default: 64 << 20)
            let diskPath = options.path("disk")
            let maxBytes = options.size("maxBytes", default: 1 << 30)
            if diskPath == nil, options.has("maxBytes") { options.error("maxBytes", "only applies with \"disk\"") }
            if diskPath == nil, memory == 0 { options.error("memory", "must be above 0 when there is no \"disk\" tier") }
            let maxObject = options.has("maxObjectSize") ? options.size("maxObjectSize", default: 0)
                : (diskPath != nil ? maxBytes / 4 : memory / 8)
            var policy = CachePolicy()
            policy.ttl = options.duration("ttl").map { Int64($0.seconds) }
            policy.staleWhileRevalidate = Int64(options.duration("staleWhileRevalidate", default: .zero).seconds)
            policy.staleIfError = Int64(options.duration("staleIfError", default: .zero).seconds)
            policy.cacheAuthenticated = options.bool("cacheAuthenticated", default: false)
            let keyHeaders = options.strings("keyHeaders").map { $0.lowercasedASCII() }
            for (i, name) in keyHeaders.enumerated() where name.isEmpty || !name.utf8.allSatisfy(Self.isTokenByte) {
                options.diagnostics.error(options.pointer.appending("keyHeaders").appending(i), "\"\(name)\" is not a header name")
            }
            if options.has("targetedFields") {
                policy.targetedFields = options.strings("targetedFields")
                for (i, name) in policy.targetedFields.enumerated()
                where name.isEmpty || !name.lowercasedASCII().utf8.allSatisfy(Self.isTokenByte) || name.equalsIgnoringASCIICase("Cache-Control") {
                    options.diagnostics.error(options.pointer.appending("targetedFields").appending(i), "\"\(name)\" is not a targeted field name")
                }
            }
            let statusName = options.string("cacheStatus", default: "gateway")
            // An sf-token (RFC 8941 §3.3.4): a letter first, then token characters, ':' or '/'.
            let lowered = statusName.lowercasedASCII().utf8
            if let first = lowered.first, !(first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z"))
                || !lowered.allSatisfy({ Self.isTokenByte($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") }) {
                options.error("cacheStatus", "must be a token such as \"gateway\" (a letter, then letters, digits, - . _ : /)")
            }
            let metricsPath = options.string("metricsPath")
            if let metricsPath, !metricsPath.hasPrefix("/") { options.error("metricsPath", "must start with /") }
            var disk: DiskStore?
            if let diskPath, options.environment.checkOnly {
                if let problem = ConfigEnvironment.unwritable(diskPath, directory: true) {
                    throw ConfigError("cannot use \"\(diskPath)\" as the cache directory: \(problem)", at: options.pointer.appending("disk"))
                }
            } else if let diskPath {
                do {
                    disk = try DiskStore.open(directory: diskPath, budget: maxBytes)
                } catch {
                    throw ConfigError("cannot use \"\(diskPath)\" as the cache directory: \(error)", at: options.pointer.appending("disk"))
                }
            }
            // Named by where it stands, so two caches (or one under "middlewares") have their own series.
            let store = CacheStore(name: options.pointer.description, memory: MemoryStore(budget: memory, maxObjectBytes: memory / 8),
                                   disk: disk, maxObjectBytes: Int64(maxObject))
            context.metrics(store)
            return Cache(store: store, policy: policy, keyHeaders: keyHeaders, xCache: options.bool("xCache", default: false),
                         metricsPath: metricsPath, statusName: statusName.isEmpty ? nil : statusName,
                         statusKey: options.bool("cacheStatusKey", default: false),
                         forwardTargeted: options.bool("forwardTargetedFields", default: false), downstream: context.downstream(),
                         purgeToken: options.secret("purgeToken"))
        })

    /// Ends the fills in flight (their followers' responses abort) and refuses to start more: the
    /// pipeline that owned this cache was replaced and drained.
    public func stop() async { store.stop() }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"),
             UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "^"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        if let metricsPath, request.path == metricsPath, request.method == .get || request.method == .head {
            return Response(status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"],
                            body: ResponseBody(string: store.renderMetrics()))
        }
        // Stopped (its pipeline was replaced and drained): a late request passes through, nothing is filled.
        if store.isStopped { return try await next(request, context) }
        if let purgeToken, request.method == Self.purge { return purge(request, context, token: purgeToken) }
        let base = CacheKey(request, keyHeaders: keyHeaders)
        guard request.method == .get || request.method == .head, request.body.isEmpty else {
            let response = try await passThrough(request, context, next, stale: nil, status: CacheStatus(fwd: "method"))
            // A successful unsafe request invalidates what is stored for its URL (RFC 9111 §4.4).
            if ![HTTPMethod.get, .head, .options, .trace, .connect].contains(request.method), response.status.code < 400 {
                store.removeURL(base.text)
            }
            return response
        }
        let authorized = !policy.cacheAuthenticated && CachePolicy.hasCredentials(request, context)
        let key = store.variantKey(base, request)
        let now = HTTPDate.now
        var stale: CacheEntry?
        if let entry = store.lookup(key.text), entry.head.matchesVary(request) {
            let staleness = entry.head.staleness(at: now)
            if staleness < 0, let response = answer(entry, request, label: "HIT", status: CacheStatus(hit: true), now: now) {
                store.metrics.hits.add(1, ordering: .relaxed)
                context.annotate("cache", "HIT")
                return response
            }
            // Within stale-while-revalidate: the stale copy now, one refresh in the background (RFC 5861 §3).
            // (A cache shared by several stacks refreshes only through the chain of the stack it was bound in.)
            if let downstream, entry.head.mayServeStale(staleness, within: entry.head.freshness.staleWhileRevalidate),
               downstream.stack == context.stack,
               let response = answer(entry, request, label: "STALE", status: CacheStatus(hit: true), now: now) {
                refreshInBackground(key, base, request, context, stale: entry, downstream, authorized: authorized)
                store.metrics.stale.add(1, ordering: .relaxed)
                context.annotate("cache", "STALE")
                return response
            }
            stale = entry
        }
        let fwd = stale != nil ? "stale" : key.text != base.text ? "vary-miss" : "uri-miss"
        return try await fetch(key, base, request, context, next, stale: stale, fwd: fwd, authorized: authorized)
    }

    // MARK: Purge

    static let purge: HTTPMethod = "PURGE"

    /// `PURGE /path?query` forgets that URL (every variant, every keyHeaders value); `PURGE /prefix*`
    /// every URL of the host under the prefix; in both tiers. Answers `{"purged": N}`.
    private func purge(_ request: Request, _ context: Context, token: Secret) -> Response {
        let credential = request.headers["Authorization"].flatMap { value -> Secret? in
            guard value.utf8.count > 7, value.prefix(7).lowercasedASCII() == "bearer " else { return nil }
            return Secret(String(value.dropFirst(7)).trimmingASCIIWhitespace())
        }
        guard let credential, credential == token else {
            context.annotate("cache", "PURGE_REFUSED")
            return HTTPError(.unauthorized, "PURGE needs the cache's purge token", headers: ["WWW-Authenticate": "Bearer"]).response
        }
        let count: Int
        if request.path.hasSuffix("*"), request.query == nil {
            let prefix = String(CacheKey.url(of: request).dropLast())  // no query: the path's "*" is last
            count = store.purge { $0.hasPrefix(prefix) }
        } else {
            let url = CacheKey.url(of: request)
            let withHeaders = url + "\n", withVariant = url + String(CacheStore.variantSeparator)
            count = store.purge { $0 == url || $0.hasPrefix(withHeaders) || $0.hasPrefix(withVariant) }
        }
        context.annotate("cache", "PURGE")
        return Response(status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
                        body: ResponseBody(string: "{\"purged\": \(count)}\n"))
    }

    // MARK: Misses

    /// Joins the fetch in flight for `key` or starts it, then answers from what it produced.
    /// Without a downstream to refresh through (a cache built outside a chain), a request within
    /// stale-while-revalidate that would have to wait for another's revalidation gets the stale copy.
    private func fetch(_ key: CacheKey, _ base: CacheKey, _ request: Request, _ context: Context, _ next: Next,
                       stale: CacheEntry?, fwd: String, authorized: Bool) async throws -> Response {
        var stale = stale
        // Evicted (by another process on the disk directory) since the lookup: nothing to revalidate.
        if case .disk(let path) = stale?.body, FileSystem.status(path) == nil { stale = nil }
        let (fill, reader, isOwner) = store.join(key)
        if !isOwner, let stale, stale.head.mayServeStale(stale.head.staleness(at: HTTPDate.now), within: stale.head.freshness.staleWhileRevalidate),
           let response = answer(stale, request, label: "STALE", status: CacheStatus(hit: true), now: HTTPDate.now) {
            store.metrics.stale.add(1, ordering: .relaxed)
            context.annotate("cache", "STALE")
            return response
        }
        let outcome: Fill.Outcome
        if isOwner, let published = await publishedElsewhere(fill, key, request) {
            outcome = published
        } else if isOwner {
            switch await run(fill, base, request, context, next, stale: stale, fwd: fwd, authorized: authorized) {
            case .shared(let shared): outcome = shared
            case .own(let response): return response
            case .filling(let head, let body):
                // The owner follows the fill like everyone else; its reader is registered before the
                // body starts, so a fill that keeps only a window never runs ahead of it.
                let response = answer(reader, head, request, status: CacheStatus(fwd: fwd, stored: true))
                // The body belongs to the fill, not to this request: it keeps streaming into the cache (and
                // to every follower) whatever this client does. It runs beside the connection that started it.
                store.startPump(fill, head: head, body: body)
                store.metrics.misses.add(1, ordering: .relaxed)
                context.annotate("cache", "MISS")
                return response
            }
        } else {
            store.metrics.coalesced.add(1, ordering: .relaxed)
            outcome = await fill.outcome()
        }
        switch outcome {
        case .streaming(let head):
            guard head.stored.matchesVary(request) else {
                return try await passThrough(request, context, next, stale: stale, status: CacheStatus(fwd: "vary-miss"))
            }
            store.metrics.misses.add(1, ordering: .relaxed)
            context.annotate("cache", "MISS")
            return answer(reader, head, request, status: CacheStatus(fwd: fwd, stored: true, collapsed: !isOwner))
        case .revalidated(let entry, let stored):
            let status = CacheStatus(fwd: "stale", fwdStatus: 304, stored: stored, collapsed: !isOwner)
            guard entry.head.matchesVary(request),
                  let response = answer(entry, request, label: "HIT", status: status, now: HTTPDate.now) else {
                return try await passThrough(request, context, next, stale: stale, status: CacheStatus(fwd: fwd))
            }
            store.metrics.hits.add(1, ordering: .relaxed)
            context.annotate("cache", "REVALIDATED")
            return response
        case .published(let entry):
            guard entry.head.matchesVary(request),
                  let response = answer(entry, request, label: "HIT", status: CacheStatus(hit: true), now: HTTPDate.now) else {
                return try await passThrough(request, context, next, stale: stale, status: CacheStatus(fwd: fwd))
            }
            store.metrics.hits.add(1, ordering: .relaxed)
            context.annotate("cache", "HIT")
            return response
        case .notShared:
            return try await passThrough(request, context, next, stale: stale, status: CacheStatus(fwd: fwd))
        case .failed(let error):
            if let stale, let response = staleIfError(stale, request, context, upstreamStatus: nil) { return response }
            throw error
        }
    }

    /// With a disk tier another process may share: takes the key's disk lock (waiting while
    /// another process fills it), then looks for a fresh object published there meanwhile. Found:
    /// the fill resolves to it (its followers answer from it) and nothing is fetched. nil: fetch.
    private func publishedElsewhere(_ fill: Fill, _ key: CacheKey, _ request: Request) async -> Fill.Outcome? {
        guard let disk = store.disk else { return nil }
        _ = await store.lockAcrossProcesses(fill, patience: .seconds(60))
        guard let entry = disk.discover(key.text), entry.head.staleness(at: HTTPDate.now) < 0 else { return nil }
        let outcome = Fill.Outcome.published(entry)
        fill.resolve(outcome)
        store.retire(fill)
        return outcome
    }

    /// Refreshes a stale entry with nobody waiting for it: once per key (a refresh already in flight
    /// is left to finish), through the rest of the chain, with the triggering request's deadline.
    private func refreshInBackground(_ key: CacheKey, _ base: CacheKey, _ request: Request, _ context: Context,
                                     stale: CacheEntry, _ downstream: Downstream, authorized: Bool) {
        let (fill, reader, isOwner) = store.join(key)
        guard isOwner else { return }
        // Nobody reads this fill: a reader left registered would hold a windowed fill back for ever.
        _ = reader
        let background = Context(requestID: context.requestID + "-refresh", stack: context.stack, timeout: context.deadline - context.started)
        let cache = self
        Task(executorPreference: EventLoop.current) {
            // Another process on the disk directory may be refreshing it too: wait for its lock,
            // and take what it stored instead of fetching again.
            if await cache.publishedElsewhere(fill, key, request) != nil { return }
            let next: Next = { request, context in try await downstream.fetch(request, context: context) }
            if case .filling(let head, let body) = await cache.run(fill, base, request, background, next, stale: stale, fwd: "stale",
                                                                  authorized: authorized) {
                cache.store.startPump(fill, head: head, body: body)
            }
        }
    }

    private enum OwnerResult {
        /// Followers (the owner included) answer from this.
        case shared(Fill.Outcome)
        /// Only the owner may use this answer.
        case own(Response)
        /// A storable answer: the owner answers from the fill, then starts its body.
        case filling(FillHead, ResponseBody)
    }

    /// The owner's part: one upstream request for the whole object (a revalidation when a stale
    /// entry has validators), then publish what came back and start the fill's body in its own task.
    private func run(_ fill: Fill, _ base: CacheKey, _ request: Request, _ context: Context, _ next: Next, stale: CacheEntry?,
                     fwd: String, authorized: Bool) async -> OwnerResult {
        store.metrics.fetches.add(1, ordering: .relaxed)
        var upstream = request
        upstream.method = .get
        for name in ["Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"] {
            upstream.headers.remove(name)
        }
        if let stale {
            if let etag = stale.head.etag { upstream.headers["If-None-Match"] = etag }
            if let modified = stale.head.headers["Last-Modified"] { upstream.headers["If-Modified-Since"] = modified }
        }
        let response: Response
        do {
            response = try await next(upstream, context)
        } catch {
            fill.resolve(.failed(error))
            store.retire(fill)
            return .shared(.failed(error))
        }
        let now = HTTPDate.now
        let immutable = request.upstream?.immutable ?? false
        if response.status.code == 304, let stale {
            let refreshed = stale.head.refreshed(with: response.headers, policy: policy, immutable: immutable, now: now)
            if let refreshed { store.refresh(stale.head.key, head: refreshed) } else { store.remove(stale.head.key) }
            let entry = CacheEntry(head: refreshed ?? stale.head, body: stale.body)
            store.metrics.revalidated.add(1, ordering: .relaxed)
            fill.resolve(.revalidated(entry, stored: refreshed != nil))
            store.retire(fill)
            return .shared(.revalidated(entry, stored: refreshed != nil))
        }
        // A server error while a stale entry may stand in for it (stale-if-error): the stale entry.
        if response.status.code >= 500, let stale, let answer = staleIfError(stale, request, context, upstreamStatus: response.status.code) {
            fill.resolve(.notShared)
            store.retire(fill)
            return .own(answer)
        }
        let declared = response.body.length.map(Int64.init)
        var decision = policy.decide(status: response.status.code, headers: response.headers, immutable: immutable, now: now,
                                     authorized: authorized)
        if let declared, declared > store.maxObjectBytes { decision = .skip("larger than maxObjectSize") }
        let varyNames = response.headers.list("Vary").map { $0.lowercasedASCII() }
        let storedKey = CacheStore.variantKey(base.text, names: varyNames, request)
        if case .store = decision, !store.noteVariant(base: base.text, names: varyNames, key: storedKey.text) {
            decision = .skip("too many variants")
        }
        guard case .store(let freshness) = decision else {
            fill.resolve(.notShared)
            store.retire(fill)
            var status = CacheStatus(fwd: fwd)
            if case .skip(let reason) = decision {
                context.annotate("cache_skip", reason)
                status.detail = reason
            }
            store.metrics.bypasses.add(1, ordering: .relaxed)
            context.annotate("cache", "BYPASS")
            return .own(passedThrough(response, for: request, status: status))
        }
        var forwarded: HTTPFields = [:]
        if CachePolicy.declaredAge(response.headers) != nil { forwarded["Age"] = "" }
        let upstreamStatus = response.headers.values("Cache-Status")
        if !upstreamStatus.isEmpty { forwarded["Cache-Status"] = upstreamStatus.joined(separator: ", ") }
        let head = FillHead(
            stored: StoredHead(key: storedKey.text, status: response.status.code, headers: StoredHead.storableHeaders(response.headers),
                               length: declared ?? -1, storedAt: now, initialAge: CachePolicy.initialAge(response.headers, now: now),
                               freshness: freshness, vary: StoredHead.varyFields(response.headers, request: request)),
            declaredLength: declared, forwarded: forwarded)
        fill.start(head, storage: store.storage(declaredLength: declared))
        return .filling(head, response.body)
    }

    /// Sends the request on as it is (nothing shared); a server error or failure may still be
    /// answered from a stale entry within its stale-if-error time.
    private func passThrough(_ request: Request, _ context: Context, _ next: Next, stale: CacheEntry?, status: CacheStatus) async throws -> Response {
        store.metrics.bypasses.add(1, ordering: .relaxed)
        context.annotate("cache", "BYPASS")
        do {
            let response = try await next(request, context)
            if response.status.code >= 500, let stale,
               let answer = staleIfError(stale, request, context, upstreamStatus: response.status.code) { return answer }
            var headers = response.headers
            label(&headers, "MISS", status, key: CacheKey(request, keyHeaders: keyHeaders).text)
            var labelled = response
            labelled.headers = headers
            return labelled
        } catch {
            if let stale, let answer = staleIfError(stale, request, context, upstreamStatus: nil) { return answer }
            throw error
        }
    }

    // MARK: Answers

    private func staleIfError(_ entry: CacheEntry, _ request: Request, _ context: Context, upstreamStatus: Int?) -> Response? {
        let now = HTTPDate.now
        let status = CacheStatus(fwd: "stale", fwdStatus: upstreamStatus, detail: "stale-if-error")
        guard entry.head.mayServeStale(entry.head.staleness(at: now), within: entry.head.freshness.staleIfError),
              let response = answer(entry, request, label: "STALE", status: status, now: now) else { return nil }
        store.metrics.stale.add(1, ordering: .relaxed)
        context.annotate("cache", "STALE")
        return response
    }

    /// Adds what the cache says about an answer: Cache-Status after any the upstream sent, X-Cache
    /// when asked for, and the targeted fields taken out unless they are to be passed on.
    private func label(_ headers: inout HTTPFields, _ xLabel: String, _ status: CacheStatus, key: String) {
        if let statusName {
            let earlier = headers.values("Cache-Status")
            let ours = status.value(name: statusName, key: statusKey ? key : nil)
            headers["Cache-Status"] = earlier.isEmpty ? ours : earlier.joined(separator: ", ") + ", " + ours
        }
        if xCache { headers["X-Cache"] = xLabel }
        if !forwardTargeted { for name in policy.targetedFields where headers.contains(name) { headers.remove(name) } }
    }

    private func answer(_ entry: CacheEntry, _ request: Request, label xLabel: String, status: CacheStatus, now: Int64) -> Response? {
        var headers = entry.head.headers
        // Checked first: removing copies the stored fields even when none goes.
        if !forwardTargeted { for name in policy.targetedFields where headers.contains(name) { headers.remove(name) } }
        var fields: [HTTPField] = []
        fields.reserveCapacity(3)
        fields.append(HTTPField(name: "Age", value: String(entry.head.age(at: now))))
        var labels = HTTPFields(fields)
        var status = status
        if entry.head.freshness.lifetime < Freshness.forever { status.ttl = -entry.head.staleness(at: now) }
        label(&labels, xLabel, status, key: entry.head.key)
        let length = entry.head.length
        var served: Int64 = 0
        let response = CacheAnswer.build(request, status: entry.head.status, headers: headers, length: length, labels: labels) { start, count in
            let count = count ?? (length - start)
            served = count
            switch entry.body {
            case .memory(let bytes):
                if start == 0 && count == Int64(bytes.count) { return ResponseBody(bytes: bytes) }
                return ResponseBody(bytes: Array(bytes[Int(start)..<Int(start + count)]))
            case .disk(let path):
                // Evicted or replaced since the lookup: the caller fetches instead.
                guard let file = OpenFile(path: path), file.size >= length else { return nil }
                return ResponseBody(file: file.region(offset: start, length: count))
            }
        }
        if response != nil { store.metrics.bytesFromCache.add(Int(served), ordering: .relaxed) }
        return response
    }

    /// An answer that follows the fill through `reader` (kept alive by the body, dropped with it).
    /// It carries the upstream's Age (as old as the answer is now) and Cache-Status, which later hits do not.
    private func answer(_ reader: FillReader, _ head: FillHead, _ request: Request, status: CacheStatus) -> Response {
        let now = HTTPDate.now
        var headers = head.stored.headers
        if !forwardTargeted { for name in policy.targetedFields where headers.contains(name) { headers.remove(name) } }
        var labels: HTTPFields = [:]
        if head.forwarded["Age"] != nil { labels["Age"] = String(head.stored.age(at: now)) }
        if let upstream = head.forwarded["Cache-Status"] { labels["Cache-Status"] = upstream }
        var status = status
        if head.stored.freshness.lifetime < Freshness.forever { status.ttl = -head.stored.staleness(at: now) }
        label(&labels, "MISS", status, key: head.stored.key)
        let response = CacheAnswer.build(request, status: head.stored.status, headers: headers, length: head.declaredLength,
                                         labels: labels) { start, count in
            ResponseBody(length: count.map { Int($0) }) { writer in
                try await reader.stream(from: start, count: count, to: writer)
            }
        }
        // A fill's body is always there to follow; build only gives nil for a body that vanished.
        return response ?? HTTPError(.badGateway, "upstream unavailable").response
    }

    /// An upstream answer to the cache's own request (GET, no conditionals) made fit for the client's.
    private func passedThrough(_ response: Response, for request: Request, status: CacheStatus) -> Response {
        var response = response
        label(&response.headers, "MISS", status, key: CacheKey(request, keyHeaders: keyHeaders).text)
        if request.method == .head, response.status.allowsContent {
            if let length = response.body.length { response.headers["Content-Length"] = String(length) }
            response.body = ResponseBody(content: .empty, length: nil)
        }
        return response
    }
}

/// What one cache did with one request, as the `Cache-Status` member it adds (RFC 9211):
/// `gateway; hit; ttl=42`, `gateway; fwd=uri-miss; stored; ttl=300`, `gateway; fwd=stale; fwd-status=304; stored`.
struct CacheStatus: Sendable, Equatable {
    /// Answered from the cache without going forward.
    var hit = false
    /// Why the request went forward: uri-miss, vary-miss, stale, method (RFC 9211 §2.2).
    var fwd: String?
    /// The status the next hop answered, when it differs from the answer's.
    var fwdStatus: Int?
    /// The answer was stored (or a stored one refreshed).
    var stored = false
    /// The request shared a fetch another request made.
    var collapsed = false
    /// Seconds of freshness left (negative: stale for that long).
    var ttl: Int64?
    var detail: String?

    init(hit: Bool = false, fwd: String? = nil, fwdStatus: Int? = nil, stored: Bool = false, collapsed: Bool = false, detail: String? = nil) {
        self.hit = hit
        self.fwd = fwd
        self.fwdStatus = fwdStatus
        self.stored = stored
        self.collapsed = collapsed
        self.detail = detail
    }

    func value(name: String, key: String?) -> String {
        var out = ""
        out.reserveCapacity(name.utf8.count + 48 + (key?.utf8.count ?? 0) + (detail?.utf8.count ?? 0))
        out += name
        if hit { out += "; hit" }
        if let fwd { out += "; fwd=" + fwd }
        if let fwdStatus { out += "; fwd-status=" + String(fwdStatus) }
        if stored { out += "; stored" }
        if collapsed { out += "; collapsed" }
        if let ttl { out += "; ttl=" + String(ttl) }
        if let key { out += "; key=" + Self.string(key) }
        if let detail { out += "; detail=" + Self.string(detail) }
        return out
    }

    /// An sf-string (RFC 8941 §3.3.3): printable ASCII, `"` and `\` escaped; anything else becomes a space.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": out += "\\" + String(scalar)
            case " "..."~": out.unicodeScalars.append(scalar)
            default: out += " "
            }
        }
        return out + "\""
    }
}
