import Pipeline
import Synchronization

/// What the source knows of its GitHub rate limit, from the `X-RateLimit-*` and `Retry-After`
/// headers of every answer ("Rate limits for the REST API", exceeding the limit). Once GitHub says
/// the limit is spent, or an answer reports nothing remaining, no further call is made until the
/// reset: continuing to call while limited can get an integration banned.
///
/// * Primary limit (403/429 with `X-RateLimit-Remaining: 0`): wait until `X-RateLimit-Reset`,
///   measured against the answer's own `Date`, so a gateway clock that differs from GitHub's
///   neither calls too early nor waits too long.
/// * Secondary limit with `Retry-After`: wait that long.
/// * Secondary limit without it (a 429, or a 403 whose message names a rate limit): wait a minute,
///   then twice as long for each further refusal in a row up to 15 minutes, as GitHub asks
///   ("wait for an exponentially increasing amount of time between retries"); the next answer
///   that is not a refusal starts the sequence again.
///
/// It is also the source's `MetricsSource`: `gateway_github_ratelimit_remaining` and `_limit`
/// (as GitHub last reported them) labelled `source="/sources/NAME"`.
final class GitHubRateLimit: MetricsSource {
    private struct State {
        /// Wall-clock seconds before which no call is made.
        var blockedUntil: Double = 0
        var limit: Int?
        var remaining: Int?
        var reset: Int64?
        /// Secondary-limit refusals in a row.
        var secondaryStrikes = 0
    }

    /// The first wait after a secondary limit without `Retry-After`, and the longest.
    static let firstSecondaryWait = 60.0
    static let longestSecondaryWait = 900.0

    private let state = Mutex(State())

    /// The JSON pointer of the source this limit belongs to.
    let metricsKey: String

    init(key: String = "") { metricsKey = key }

    func renderMetrics() -> String {
        let (remaining, limit, _) = snapshot
        let label = "source=" + MetricsRegistry.quote(metricsKey)
        var out = ""
        if let remaining {
            out += "# HELP gateway_github_ratelimit_remaining API calls left in the GitHub rate-limit window, as GitHub last reported.\n"
            out += "# TYPE gateway_github_ratelimit_remaining gauge\n"
            out += "gateway_github_ratelimit_remaining{\(label)} \(remaining)\n"
        }
        if let limit {
            out += "# HELP gateway_github_ratelimit_limit API calls allowed per GitHub rate-limit window, as GitHub last reported.\n"
            out += "# TYPE gateway_github_ratelimit_limit gauge\n"
            out += "gateway_github_ratelimit_limit{\(label)} \(limit)\n"
        }
        let blocked = retryAfter() != nil
        out += "# HELP gateway_github_ratelimit_blocked 1 while the source makes no GitHub call because the rate limit is spent.\n"
        out += "# TYPE gateway_github_ratelimit_blocked gauge\n"
        out += "gateway_github_ratelimit_blocked{\(label)} \(blocked ? 1 : 0)\n"
        return out
    }

    /// Seconds to wait before calling again, or nil when calls may go ahead.
    func retryAfter(now: Double = WallClock.now) -> Int? {
        let until = state.withLock { $0.blockedUntil }
        guard until > now else { return nil }
        return max(1, Int((until - now).rounded(.up)))
    }

    /// The last reported remaining count and limit, for logs.
    var snapshot: (remaining: Int?, limit: Int?, reset: Int64?) {
        state.withLock { ($0.remaining, $0.limit, $0.reset) }
    }

    /// Records an answer's headers. Returns the wait in seconds when the answer is a rate-limit
    /// refusal (the caller then treats it as such), nil otherwise.
    @discardableResult
    func record(status: Int, headers: HTTPFields, body: [UInt8], now: Double = WallClock.now) -> Int? {
        let remaining = headers["X-RateLimit-Remaining"].flatMap { Int($0.trimmingASCIIWhitespace()) }
        let reset = headers["X-RateLimit-Reset"].flatMap { Int64($0.trimmingASCIIWhitespace()) }
        let limit = headers["X-RateLimit-Limit"].flatMap { Int($0.trimmingASCIIWhitespace()) }
        let retryAfter = headers["Retry-After"].flatMap { Int($0.trimmingASCIIWhitespace()) }
        // GitHub's clock, for the reset time it gave in its own epoch seconds.
        let githubNow = headers["Date"].flatMap(HTTPDate.parse).map(Double.init) ?? now
        let refused = status == 403 || status == 429
        let primary = remaining == 0 && reset != nil
        let secondary = refused && !primary && (retryAfter != nil || status == 429 || Self.mentionsRateLimit(body))
        return state.withLock { state in
            if let remaining { state.remaining = remaining }
            if let limit { state.limit = limit }
            if let reset { state.reset = reset }
            var wait: Double?
            if secondary {
                state.secondaryStrikes += 1
                if let retryAfter {
                    wait = Double(max(1, retryAfter))
                } else {
                    let doubling = Double(1 << min(state.secondaryStrikes - 1, 10))
                    wait = min(Self.firstSecondaryWait * doubling, Self.longestSecondaryWait)
                }
            } else {
                if !refused { state.secondaryStrikes = 0 }
                if primary, let reset {
                    // Refused, or the last call was just spent: the next one would be refused.
                    let left = max(Double(reset) - githubNow, Double(refused ? retryAfter ?? 0 : 0))
                    if refused || left > 0 { wait = max(1, left) }
                }
            }
            if let wait { state.blockedUntil = max(state.blockedUntil, now + wait) }
            guard refused, let wait else { return nil }
            return max(1, Int(wait.rounded(.up)))
        }
    }

    /// Forgets a block (tests; a new installation token has its own limit).
    func clear() { state.withLock { $0.blockedUntil = 0 } }

    private static func mentionsRateLimit(_ body: [UInt8]) -> Bool {
        String(decoding: body.prefix(4096), as: UTF8.self).lowercased().contains("rate limit")
    }
}
