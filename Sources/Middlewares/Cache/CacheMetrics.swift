import Synchronization

/// Counters of one cache, readable as Prometheus text at the stack's `metricsPath`.
/// Relaxed atomics: each counter is exact, a snapshot across counters is not.
final class CacheMetrics: Sendable {
    /// Answered from a fresh entry (or one a 304 just refreshed).
    let hits = Atomic<Int>(0)
    /// Answered from an upstream fetch made for this key (the request started it or joined it).
    let misses = Atomic<Int>(0)
    /// Answered from an expired entry (stale-while-revalidate or stale-if-error).
    let stale = Atomic<Int>(0)
    /// Requests the cache did not handle (methods, credentials, uncacheable answers).
    let bypasses = Atomic<Int>(0)
    /// Requests that joined a fetch already in flight instead of making their own.
    let coalesced = Atomic<Int>(0)
    /// Upstream fetches started by the cache (fills and revalidations).
    let fetches = Atomic<Int>(0)
    /// Revalidations the upstream answered with 304.
    let revalidated = Atomic<Int>(0)
    /// Fills that failed midway and were discarded.
    let fillFailures = Atomic<Int>(0)
    /// Body bytes answered from stored entries.
    let bytesFromCache = Atomic<Int>(0)
    /// Body bytes fetched from the upstream into the cache.
    let bytesFilled = Atomic<Int>(0)
    /// Stored responses removed by PURGE requests.
    let purged = Atomic<Int>(0)
    let memoryEvictions = Atomic<Int>(0)
    let diskEvictions = Atomic<Int>(0)

    init() {}

    /// The counters in the Prometheus text format, labelled with the cache's stack.
    func render(name: String, memory: (entries: Int, bytes: Int), disk: (entries: Int, bytes: Int)?) -> String {
        var out = ""
        let label = "cache=\"" + name.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        func counter(_ metric: String, _ help: String, _ value: Int, _ extra: String = "") {
            if extra.isEmpty || !out.contains("# TYPE gateway_cache_\(metric) ") {
                out += "# HELP gateway_cache_\(metric) \(help)\n# TYPE gateway_cache_\(metric) counter\n"
            }
            out += "gateway_cache_\(metric){\(label)\(extra)} \(value)\n"
        }
        func gauge(_ metric: String, _ help: String, _ values: [(String, Int)]) {
            out += "# HELP gateway_cache_\(metric) \(help)\n# TYPE gateway_cache_\(metric) gauge\n"
            for (tier, value) in values { out += "gateway_cache_\(metric){\(label),tier=\"\(tier)\"} \(value)\n" }
        }
        counter("hits_total", "Requests answered from a fresh entry.", hits.load(ordering: .relaxed))
        counter("misses_total", "Requests answered from an upstream fetch for their key.", misses.load(ordering: .relaxed))
        counter("stale_total", "Requests answered from an expired entry.", stale.load(ordering: .relaxed))
        counter("bypass_total", "Requests passed through without the cache.", bypasses.load(ordering: .relaxed))
        counter("coalesced_total", "Requests that joined a fetch already in flight.", coalesced.load(ordering: .relaxed))
        counter("upstream_fetches_total", "Fetches and revalidations the cache sent upstream.", fetches.load(ordering: .relaxed))
        counter("revalidated_total", "Revalidations answered 304.", revalidated.load(ordering: .relaxed))
        counter("fill_failures_total", "Fills that failed midway and were discarded.", fillFailures.load(ordering: .relaxed))
        counter("bytes_served_total", "Body bytes answered from stored entries.", bytesFromCache.load(ordering: .relaxed))
        counter("bytes_filled_total", "Body bytes fetched from upstream into the cache.", bytesFilled.load(ordering: .relaxed))
        counter("purged_total", "Stored responses removed by PURGE requests.", purged.load(ordering: .relaxed))
        counter("evictions_total", "Entries evicted to stay within budget.", memoryEvictions.load(ordering: .relaxed), ",tier=\"memory\"")
        counter("evictions_total", "Entries evicted to stay within budget.", diskEvictions.load(ordering: .relaxed), ",tier=\"disk\"")
        var entries = [("memory", memory.entries)], bytes = [("memory", memory.bytes)]
        if let disk {
            entries.append(("disk", disk.entries))
            bytes.append(("disk", disk.bytes))
        }
        gauge("entries", "Entries stored.", entries)
        gauge("bytes", "Bytes stored.", bytes)
        return out
    }
}
