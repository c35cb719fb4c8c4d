import Synchronization

/// Refused requests of every auth gate, process-wide (a reload keeps the counts), by stack and
/// reason: `missing` (no credentials, 401), `bad_credentials` (wrong, unknown or malformed, 401),
/// `expired` (an expired token or signed URL, 401), `forbidden` (genuine but not allowed here, 403),
/// `throttled` (too many password checks, 429), `unavailable` (could not verify now, 503).
public final class AuthMetrics: MetricsSource {
    public static let reasons = ["bad_credentials", "expired", "forbidden", "missing", "throttled", "unavailable"]

    /// The one instance, shown by `/metrics` from the first auth gate built on.
    public static let shared: AuthMetrics = {
        let metrics = AuthMetrics()
        MetricsRegistry.shared.register(metrics)
        return metrics
    }()

    public let metricsKey = "auth"

    struct Key: Hashable {
        let stack: String
        let reason: String
    }
    private let counts = Mutex<[Key: Int]>([:])
    /// Stacks with a gate, so their series show 0 before the first refusal.
    private let stacks = Mutex<Set<String>>([])

    init() {}

    /// Shows zeros for `stack` until its first refusal.
    func declare(stack: String) {
        stacks.withLock { _ = $0.insert(stack) }
    }

    /// Counts one refusal on `stack`.
    func refused(stack: String, reason: String) {
        counts.withLock { $0[Key(stack: stack, reason: reason), default: 0] += 1 }
    }

    /// The count for one series (tests).
    public func count(stack: String, reason: String) -> Int {
        counts.withLock { $0[Key(stack: stack, reason: reason)] ?? 0 }
    }

    /// The reason label for a 401's logged reasons: `expired` when any says so, otherwise
    /// `bad_credentials`; nothing presented is `missing`.
    static func reason(rejections: [String]) -> String {
        if rejections.isEmpty { return "missing" }
        let expired = rejections.contains { reason in
            reason.hasSuffix(": expired") || reason.contains("not yet valid") || reason.contains("issued too long ago")
        }
        return expired ? "expired" : "bad_credentials"
    }

    public func renderMetrics() -> String {
        let counts = counts.withLock { $0 }
        let stacks = self.stacks.withLock { $0 }.union(counts.keys.map(\.stack)).sorted()
        guard !stacks.isEmpty else { return "" }
        var out = "# HELP gateway_auth_failures_total Requests refused by auth, by stack and reason.\n"
        out += "# TYPE gateway_auth_failures_total counter\n"
        for stack in stacks {
            for reason in Self.reasons {
                out += "gateway_auth_failures_total{stack=\(MetricsRegistry.quote(stack)),reason=\"\(reason)\"} "
                    + "\(counts[Key(stack: stack, reason: reason)] ?? 0)\n"
            }
        }
        return out
    }
}
