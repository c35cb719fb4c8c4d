import Synchronization

/// Something with counters of its own (a cache store, a source) that `/metrics` should show.
///
/// A value built from pipeline.json hands itself to `BuildContext.metrics(_:)` while it is built;
/// its series appear when its pipeline is *activated* (starts serving) and go when another
/// pipeline replaces it, so a load that fails, or one that is still building, never touches what
/// `/metrics` shows. It labels its series with `metricsKey`, the JSON pointer of what it measures
/// (`/stacks/registry/chain/2`, `/middlewares/shared-cache`).
public protocol MetricsSource: AnyObject, Sendable {
    /// Identifies the series this source renders: the JSON pointer of its place in pipeline.json
    /// (a process-wide source: a fixed name).
    var metricsKey: String { get }
    /// Prometheus text exposition lines (with their `# HELP`/`# TYPE`).
    func renderMetrics() -> String
}

/// What `/metrics` shows: request counters every codec feeds through `Context.complete` (process
/// wide, counted per thread without a lock and summed when scraped), the sources of the active
/// pipeline, and process-wide sources. Rendered as Prometheus text by the `metrics` middleware.
public final class MetricsRegistry: Sendable {
    public static let shared = MetricsRegistry()

    struct RequestKey: Hashable {
        let stack: String
        let version: HTTPVersion
        let statusClass: Int
    }

    struct RequestCounts {
        var requests = 0
        var bytes = 0
        var aborted = 0
        var seconds = 0.0
        /// Requests per duration bucket (not cumulative; the last is above every bound).
        var buckets = [Int](repeating: 0, count: MetricsRegistry.durationBounds.count + 1)

        mutating func add(_ other: RequestCounts) {
            requests += other.requests
            bytes += other.bytes
            aborted += other.aborted
            seconds += other.seconds
            for index in buckets.indices { buckets[index] += other.buckets[index] }
        }
    }

    /// Upper bounds (seconds) of the request-duration histogram's buckets: metadata answers from
    /// memory sit in the first few, large downloads in the last.
    static let durationBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// Tells registries apart in a thread's list of shards (an address may be reused).
    private static let nextID = Atomic<UInt64>(1)
    let id: UInt64
    /// Request counts, one shard per thread that recorded any (an event loop, mostly): each is
    /// written by its own thread only, with no lock, and read by a scrape.
    private let shards = Mutex<[RequestShard]>([])
    /// What the shards of threads that have ended counted.
    private let retired = Mutex<[RequestKey: RequestCounts]>([:])
    private let sources = Mutex<[WeakSource]>([])
    /// The sources of the pipeline serving now.
    private let active = Mutex<[any MetricsSource]>([])

    final class WeakSource: @unchecked Sendable {
        // Set once in init; only read afterwards.
        weak var source: (any MetricsSource)?
        let key: String
        init(_ source: any MetricsSource) {
            self.source = source
            key = source.metricsKey
        }
    }

    public init() {
        id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Counts one finished request in the calling thread's shard: no lock, no allocation once the
    /// thread has seen the series (a lock only the first time, so a scrape sees the new series).
    public func record(stack: String, version: HTTPVersion, status: Int, bytes: Int, aborted: Bool, duration: Duration) {
        let key = RequestKey(stack: stack, version: version, statusClass: status / 100)
        let seconds = duration.seconds
        let bucket = Self.durationBounds.firstIndex { seconds <= $0 } ?? Self.durationBounds.count
        ThreadShards.shard(of: self).counters(for: key).add(bytes: bytes, aborted: aborted, seconds: seconds, bucket: bucket)
    }

    /// A shard for the calling thread (called once per thread, from `ThreadShards`).
    func makeShard() -> RequestShard {
        let shard = RequestShard(registry: self)
        shards.withLock { $0.append(shard) }
        return shard
    }

    /// The thread that owned `shard` ended: what it counted is kept, the shard is dropped.
    func retire(_ shard: RequestShard) {
        // Under the shards' lock, so a scrape counts it once: live or retired.
        shards.withLock { shards in
            let counts = shard.snapshot()
            retired.withLock { retired in
                for (key, value) in counts { retired[key, default: RequestCounts()].add(value) }
            }
            shards.removeAll { $0 === shard }
        }
    }

    /// Shows `sources` (those of the pipeline that starts serving) instead of the previous pipeline's.
    public func activate(_ sources: [any MetricsSource]) {
        active.withLock { $0 = sources }
    }

    /// The keys of the active pipeline's sources (tests, diagnostics).
    public var activeKeys: [String] { active.withLock { $0.map(\.metricsKey) } }

    /// Adds a process-wide `source` (not one of a pipeline) to what `/metrics` shows, for as long
    /// as it lives; a newer one with the same key replaces it.
    public func register(_ source: any MetricsSource) {
        let entry = WeakSource(source)
        sources.withLock { list in
            list.removeAll { $0.source == nil || $0.key == entry.key }
            list.append(entry)
        }
    }

    /// Everything as Prometheus text, in a stable order.
    public func render() -> String {
        let sum = shards.withLock { shards in
            var sum = retired.withLock { $0 }
            for shard in shards {
                for (key, counts) in shard.snapshot() { sum[key, default: RequestCounts()].add(counts) }
            }
            return sum
        }
        let table = sum.sorted {
            ($0.key.stack, $0.key.version.rawValue, $0.key.statusClass) < ($1.key.stack, $1.key.version.rawValue, $1.key.statusClass)
        }
        var out = ""
        func labels(_ key: RequestKey) -> String {
            "stack=\(Self.quote(key.stack)),protocol=\(Self.quote(key.version.rawValue)),status=\"\(key.statusClass)xx\""
        }
        func family(_ name: String, _ type: String, _ help: String, _ value: (RequestCounts) -> String) {
            out += "# HELP gateway_\(name) \(help)\n# TYPE gateway_\(name) \(type)\n"
            for (key, counts) in table { out += "gateway_\(name){\(labels(key))} \(value(counts))\n" }
        }
        family("requests_total", "counter", "Requests answered, by stack, protocol and status class.") { String($0.requests) }
        family("response_bytes_total", "counter", "Response body bytes written.") { String($0.bytes) }
        family("aborted_responses_total", "counter", "Responses whose body stopped before its end.") { String($0.aborted) }
        out += "# HELP gateway_request_duration_seconds Time from request head to the last body byte.\n"
        out += "# TYPE gateway_request_duration_seconds histogram\n"
        for (key, counts) in table {
            var cumulative = 0
            for (index, bound) in Self.durationBounds.enumerated() {
                cumulative += counts.buckets[index]
                out += "gateway_request_duration_seconds_bucket{\(labels(key)),le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "gateway_request_duration_seconds_bucket{\(labels(key)),le=\"+Inf\"} \(counts.requests)\n"
            out += "gateway_request_duration_seconds_sum{\(labels(key))} \(counts.seconds)\n"
            out += "gateway_request_duration_seconds_count{\(labels(key))} \(counts.requests)\n"
        }
        let texts = active.withLock { $0 }.map { $0.renderMetrics() } + sources.withLock { $0.compactMap(\.source) }.map { $0.renderMetrics() }
        return out + RelayCounters.shared.render() + Self.merge(texts)
    }

    /// Several sources' texts as one exposition: each family's `# HELP`/`# TYPE` once, followed by
    /// every source's samples of it (two caches both render `gateway_cache_hits_total`).
    static func merge(_ texts: [String]) -> String {
        var order: [String] = []
        var headers: [String: [Substring]] = [:]
        var samples: [String: [Substring]] = [:]
        for text in texts {
            var family = ""
            for line in text.split(separator: "\n") {
                if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                    family = String(line.split(separator: " ")[2])
                    if headers[family] == nil {
                        order.append(family)
                        headers[family] = []
                    }
                    if headers[family]!.count < 2, !headers[family]!.contains(line) { headers[family]!.append(line) }
                } else {
                    if headers[family] == nil {
                        order.append(family)
                        headers[family] = []
                    }
                    samples[family, default: []].append(line)
                }
            }
        }
        var out = ""
        for family in order {
            for line in headers[family]! + samples[family, default: []] { out += line + "\n" }
        }
        return out
    }

    /// A label value in Prometheus quoting.
    public static func quote(_ value: String) -> String {
        "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
    }
}
