import Pipeline
import Synchronization

/// Series of one `upstream` middleware, labelled `upstream="<its JSON pointer>"` (never its URL,
/// which may carry credentials): answers by status class, failures by reason, and the time to the
/// answer's head as a histogram with a few fixed buckets.
final class UpstreamMetrics: MetricsSource {
    let metricsKey: String

    /// Upper bounds (seconds) of the time-to-head histogram.
    static let bounds: [Double] = [0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 60]
    /// Why a fetch failed: no answer (`resolve`, `connect`, `tls`, `timeout`, `bad_response`,
    /// `closed`, `redirects`, `other`) or a body that stopped midway (`body`).
    static let reasons = ["bad_response", "body", "closed", "connect", "other", "redirects", "resolve", "timeout", "tls"]

    private struct Counts {
        /// Answers per status class 1xx … 5xx (index 1 … 5).
        var classes = [Int](repeating: 0, count: 6)
        var errors: [String: Int] = [:]
        /// Answers per bucket (not cumulative; the last is above every bound).
        var buckets = [Int](repeating: 0, count: UpstreamMetrics.bounds.count + 1)
        var seconds = 0.0
    }
    private let counts = Mutex(Counts())

    init(key: String) { metricsKey = key }

    /// An answer with `status` whose head came `elapsed` after the fetch began.
    func answered(status: Int, after elapsed: Duration) {
        let seconds = elapsed.seconds
        counts.withLock { counts in
            counts.classes[min(max(status / 100, 1), 5)] += 1
            counts.seconds += seconds
            counts.buckets[Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count] += 1
        }
    }

    /// A fetch that failed for `reason` (one of `reasons`).
    func failed(_ reason: String) {
        counts.withLock { $0.errors[reason, default: 0] += 1 }
    }

    /// The reason label of a client error.
    static func reason(_ error: ClientError) -> String {
        switch error {
        case .invalidURL: "other"
        case .resolve: "resolve"
        case .connect: "connect"
        case .tls: "tls"
        case .timeout: "timeout"
        case .badResponse: "bad_response"
        case .tooManyRedirects: "redirects"
        case .closed: "closed"
        }
    }

    func renderMetrics() -> String {
        let counts = counts.withLock { $0 }
        let label = "upstream=" + MetricsRegistry.quote(metricsKey)
        var out = "# HELP gateway_upstream_requests_total Upstream answers, by upstream and status class.\n"
        out += "# TYPE gateway_upstream_requests_total counter\n"
        for statusClass in 1...5 where statusClass != 1 || counts.classes[1] > 0 {
            out += "gateway_upstream_requests_total{\(label),status=\"\(statusClass)xx\"} \(counts.classes[statusClass])\n"
        }
        out += "# HELP gateway_upstream_errors_total Upstream fetches that failed (no answer, or a body cut midway), by reason.\n"
        out += "# TYPE gateway_upstream_errors_total counter\n"
        for reason in Self.reasons {
            out += "gateway_upstream_errors_total{\(label),reason=\"\(reason)\"} \(counts.errors[reason, default: 0])\n"
        }
        out += "# HELP gateway_upstream_response_seconds Time from the start of an upstream fetch to its answer's head.\n"
        out += "# TYPE gateway_upstream_response_seconds histogram\n"
        var cumulative = 0
        for (index, bound) in Self.bounds.enumerated() {
            cumulative += counts.buckets[index]
            out += "gateway_upstream_response_seconds_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n"
        }
        let total = counts.buckets.reduce(0, +)
        out += "gateway_upstream_response_seconds_bucket{\(label),le=\"+Inf\"} \(total)\n"
        out += "gateway_upstream_response_seconds_sum{\(label)} \(counts.seconds)\n"
        out += "gateway_upstream_response_seconds_count{\(label)} \(total)\n"
        return out
    }
}
