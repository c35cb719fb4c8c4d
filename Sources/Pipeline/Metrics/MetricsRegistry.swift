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
/// wide, counted per event loop without a shared lock and summed when scraped), the sources of the
/// active pipeline, and process-wide sources. Rendered as Prometheus text by the `metrics` middleware.
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
    }

    /// Upper bounds (seconds) of the request-duration histogram's buckets: metadata answers from
    /// memory sit in the first few, large downloads in the last.
    static let durationBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// Request counts, one table per event loop (by its index) and a last one for work off the
    /// loops: each table's lock is taken by its own loop, and by a scrape.
    private let shards: [Shard]

    final class Shard: Sendable {
        let table = Mutex<[RequestKey: RequestCounts]>([:])
    }
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

    /// Tables for loops 0 ..< `loops` (loops beyond share them) and one for everything else.
    public init(loops: Int = 64) {
        shards = (0...max(1, loops)).map { _ in Shard() }
    }

    /// Counts one finished request in the current loop's table.
    public func record(stack: String, version: HTTPVersion, status: Int, bytes: Int, aborted: Bool, duration: Duration) {
        let key = RequestKey(stack: stack, version: version, statusClass: status / 100)
        let shard = EventLoop.current.map { $0.index % (shards.count - 1) } ?? shards.count - 1
        shards[shard].table.withLock { table in
            var counts = table[key, default: RequestCounts()]
            counts.requests += 1
            counts.bytes += bytes
            if aborted { counts.aborted += 1 }
            let seconds = duration.seconds
            counts.seconds += seconds
            counts.buckets[Self.durationBounds.firstIndex { seconds <= $0 } ?? Self.durationBounds.count] += 1
            table[key] = counts
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
        var sum: [RequestKey: RequestCounts] = [:]
        for shard in shards {
            for (key, counts) in shard.table.withLock({ $0 }) {
                var total = sum[key, default: RequestCounts()]
                total.requests += counts.requests
                total.bytes += counts.bytes
                total.aborted += counts.aborted
                total.seconds += counts.seconds
                for index in total.buckets.indices { total.buckets[index] += counts.buckets[index] }
                sum[key] = total
            }
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
