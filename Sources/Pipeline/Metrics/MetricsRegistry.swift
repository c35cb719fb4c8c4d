import Synchronization

/// Something with counters of its own (a cache store, a source) that `/metrics` should show.
public protocol MetricsSource: AnyObject, Sendable {
    /// Identifies the series this source renders; a newer source with the same key replaces an
    /// older one (after a reload the old pipeline's cache may live on for a while).
    var metricsKey: String { get }
    /// Prometheus text exposition lines (with their `# HELP`/`# TYPE`).
    func renderMetrics() -> String
}

/// Process-wide metrics: request counters every codec feeds through `Context.complete`, and the
/// sources that registered themselves. Rendered as Prometheus text by the `metrics` middleware.
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

    private let requests = Mutex<[RequestKey: RequestCounts]>([:])
    private let sources = Mutex<[WeakSource]>([])

    final class WeakSource: @unchecked Sendable {
        // Set once in init; only read afterwards.
        weak var source: (any MetricsSource)?
        let key: String
        init(_ source: any MetricsSource) {
            self.source = source
            key = source.metricsKey
        }
    }

    public init() {}

    /// Counts one finished request.
    public func record(stack: String, version: HTTPVersion, status: Int, bytes: Int, aborted: Bool, duration: Duration) {
        let key = RequestKey(stack: stack, version: version, statusClass: status / 100)
        requests.withLock { table in
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

    /// Adds `source` to what `/metrics` shows, for as long as it lives.
    public func register(_ source: any MetricsSource) {
        let entry = WeakSource(source)
        sources.withLock { list in
            list.removeAll { $0.source == nil || $0.key == entry.key }
            list.append(entry)
        }
    }

    /// Everything as Prometheus text, in a stable order.
    public func render() -> String {
        let table = requests.withLock { $0 }.sorted {
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
        for source in sources.withLock({ $0.compactMap(\.source) }) { out += source.renderMetrics() }
        return out
    }

    /// A label value in Prometheus quoting.
    public static func quote(_ value: String) -> String {
        "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
    }
}
