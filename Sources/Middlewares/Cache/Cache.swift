import Pipeline

/// `cache`: a shared HTTP cache in front of whatever follows it in the chain. A memory tier (LRU
/// within a byte budget) and an optional disk tier (files that survive restarts) hold whole
/// responses to GET (and answer HEAD and Range from them). Concurrent misses for one key make one
/// upstream fetch that every waiting client streams from as it arrives; a fetch that fails midway
/// aborts those responses and is never kept. Cache-Control, Expires and validators are honoured
/// (`ttl` overrides the lifetime), stale entries are revalidated with ETag/Last-Modified and may be
/// served while revalidating or when the upstream fails. Requests with credentials are cached only
/// with `cacheAuthenticated`; responses with Set-Cookie never are.
///
/// ```json
/// {"type": "cache", "memory": "128MiB", "disk": "/var/cache/gateway", "maxBytes": "20GiB", "xCache": true}
/// ```
public struct Cache: Middleware, Stoppable {
    let store: CacheStore
    let policy: CachePolicy
    let keyHeaders: [String]
    let xCache: Bool
    let metricsPath: String?

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
            OptionSpec("staleWhileRevalidate", "duration", "serve an expired entry this long while refetching it (when the upstream says nothing)", default: "0"),
            OptionSpec("staleIfError", "duration", "serve an expired entry this long when the upstream fails (when the upstream says nothing)", default: "0"),
            OptionSpec("keyHeaders", "[string]", "request headers whose values are part of the key (e.g. [\"Accept\"])"),
            OptionSpec("cacheAuthenticated", "bool", "also cache requests with Authorization or an identity (auth before the cache decides who reads)", default: "false"),
            OptionSpec("xCache", "bool", "add X-Cache: HIT, MISS or STALE to responses", default: "false"),
            OptionSpec("metricsPath", "string", "answer GET on this path with the cache's counters (Prometheus text)"),
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
                         metricsPath: metricsPath)
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
        guard request.method == .get || request.method == .head, request.body.isEmpty else {
            let response = try await passThrough(request, context, next, stale: nil)
            // A successful unsafe request invalidates what is stored for its URL (RFC 9111 §4.4).
            if ![HTTPMethod.get, .head, .options, .trace, .connect].contains(request.method), response.status.code < 400 {
                store.remove(CacheKey(request, keyHeaders: keyHeaders).text)
            }
            return response
        }
        if !policy.cacheAuthenticated, CachePolicy.hasCredentials(request, context) {
            return try await passThrough(request, context, next, stale: nil)
        }
        let key = CacheKey(request, keyHeaders: keyHeaders)
        let now = HTTPDate.now
        var stale: CacheEntry?
        if let entry = store.lookup(key.text), entry.head.matchesVary(request) {
            let staleness = entry.head.staleness(at: now)
            if staleness < 0, let response = answer(entry, request, label: "HIT", now: now) {
                store.metrics.hits.add(1, ordering: .relaxed)
                context.annotate("cache", "HIT")
                return response
            }
            stale = entry
        }
        return try await fetch(key, request, context, next, stale: stale)
    }

    // MARK: Misses

    /// Joins the fetch in flight for `key` or starts it, then answers from what it produced.
    /// Within stale-while-revalidate, a request that would have to wait for another's revalidation
    /// gets the stale copy at once; only the request that revalidates waits for the upstream (what
    /// nginx does with `proxy_cache_use_stale updating`). A refresh detached from every request would
    /// need `next` to escape `handle`, which the Middleware protocol does not allow.
    private func fetch(_ key: CacheKey, _ request: Request, _ context: Context, _ next: Next,
                       stale: CacheEntry?) async throws -> Response {
        let (fill, reader, isOwner) = store.join(key)
        if !isOwner, let stale, stale.head.staleness(at: HTTPDate.now) <= stale.head.freshness.staleWhileRevalidate,
           let response = answer(stale, request, label: "STALE", now: HTTPDate.now) {
            store.metrics.stale.add(1, ordering: .relaxed)
            context.annotate("cache", "STALE")
            return response
        }
        let outcome: Fill.Outcome
        if isOwner {
            switch await run(fill, request, context, next, stale: stale) {
            case .shared(let shared): outcome = shared
            case .own(let response): return response
            case .filling(let head, let body):
                // The owner follows the fill like everyone else; its reader is registered before the
                // body starts, so a fill that keeps only a window never runs ahead of it.
                let response = answer(reader, head, request)
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
            guard head.stored.matchesVary(request) else { return try await passThrough(request, context, next, stale: stale) }
            store.metrics.misses.add(1, ordering: .relaxed)
            context.annotate("cache", "MISS")
            return answer(reader, head, request)
        case .revalidated(let entry):
            guard entry.head.matchesVary(request),
                  let response = answer(entry, request, label: "HIT", now: HTTPDate.now) else {
                return try await passThrough(request, context, next, stale: stale)
            }
            store.metrics.hits.add(1, ordering: .relaxed)
            context.annotate("cache", "REVALIDATED")
            return response
        case .notShared:
            return try await passThrough(request, context, next, stale: stale)
        case .failed(let error):
            if let stale, let response = staleIfError(stale, request, context) { return response }
            throw error
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
    private func run(_ fill: Fill, _ request: Request, _ context: Context, _ next: Next, stale: CacheEntry?) async -> OwnerResult {
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
            if let refreshed { store.refresh(fill.key.text, head: refreshed) } else { store.remove(fill.key.text) }
            let entry = CacheEntry(head: refreshed ?? stale.head, body: stale.body)
            store.metrics.revalidated.add(1, ordering: .relaxed)
            fill.resolve(.revalidated(entry))
            store.retire(fill)
            return .shared(.revalidated(entry))
        }
        let declared = response.body.length.map(Int64.init)
        var decision = policy.decide(status: response.status.code, headers: response.headers, immutable: immutable, now: now)
        if let declared, declared > store.maxObjectBytes { decision = .skip("larger than maxObjectSize") }
        guard case .store(let freshness) = decision, response.status.code < 500 else {
            fill.resolve(.notShared)
            store.retire(fill)
            if case .skip(let reason) = decision { context.annotate("cache_skip", reason) }
            if response.status.code >= 500, let stale, let answer = staleIfError(stale, request, context) { return .own(answer) }
            store.metrics.bypasses.add(1, ordering: .relaxed)
            context.annotate("cache", "BYPASS")
            return .own(passedThrough(response, for: request))
        }
        let head = FillHead(
            stored: StoredHead(key: fill.key.text, status: response.status.code, headers: StoredHead.storableHeaders(response.headers),
                               length: declared ?? -1, storedAt: now, initialAge: CachePolicy.initialAge(response.headers, now: now),
                               freshness: freshness, vary: StoredHead.varyFields(response.headers, request: request)),
            declaredLength: declared)
        fill.start(head, storage: store.storage(declaredLength: declared))
        return .filling(head, response.body)
    }

    /// Sends the request on as it is (nothing shared); a server error or failure may still be
    /// answered from a stale entry within its stale-if-error time.
    private func passThrough(_ request: Request, _ context: Context, _ next: Next, stale: CacheEntry?) async throws -> Response {
        store.metrics.bypasses.add(1, ordering: .relaxed)
        context.annotate("cache", "BYPASS")
        do {
            let response = try await next(request, context)
            if response.status.code >= 500, let stale, let answer = staleIfError(stale, request, context) { return answer }
            return labelled(response, "MISS")
        } catch {
            if let stale, let answer = staleIfError(stale, request, context) { return answer }
            throw error
        }
    }

    // MARK: Answers

    private func staleIfError(_ entry: CacheEntry, _ request: Request, _ context: Context) -> Response? {
        let now = HTTPDate.now
        guard entry.head.staleness(at: now) <= entry.head.freshness.staleIfError,
              let response = answer(entry, request, label: "STALE", now: now) else { return nil }
        store.metrics.stale.add(1, ordering: .relaxed)
        context.annotate("cache", "STALE")
        return response
    }

    private func answer(_ entry: CacheEntry, _ request: Request, label: String, now: Int64) -> Response? {
        var headers = entry.head.headers
        headers["Age"] = String(entry.head.age(at: now))
        let length = entry.head.length
        var served: Int64 = 0
        let response = CacheAnswer.build(request, status: entry.head.status, headers: headers, length: length,
                                         label: xCache ? label : nil) { start, count in
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
    private func answer(_ reader: FillReader, _ head: FillHead, _ request: Request) -> Response {
        let response = CacheAnswer.build(request, status: head.stored.status, headers: head.stored.headers, length: head.declaredLength,
                                         label: xCache ? "MISS" : nil) { start, count in
            ResponseBody(length: count.map { Int($0) }) { writer in
                try await reader.stream(from: start, count: count, to: writer)
            }
        }
        // A fill's body is always there to follow; build only gives nil for a body that vanished.
        return response ?? HTTPError(.badGateway, "upstream unavailable").response
    }

    /// An upstream answer to the cache's own request (GET, no conditionals) made fit for the client's.
    private func passedThrough(_ response: Response, for request: Request) -> Response {
        var response = labelled(response, "MISS")
        if request.method == .head, response.status.allowsContent {
            if let length = response.body.length { response.headers["Content-Length"] = String(length) }
            response.body = ResponseBody(content: .empty, length: nil)
        }
        return response
    }

    private func labelled(_ response: Response, _ label: String) -> Response {
        guard xCache else { return response }
        var response = response
        response.headers["X-Cache"] = label
        return response
    }
}
