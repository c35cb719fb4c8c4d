import Pipeline
import Synchronization

/// What the source knows of its GitHub rate limit, from the `X-RateLimit-*` and `Retry-After`
/// headers of every answer. Once GitHub says the limit is spent (403/429 with
/// `X-RateLimit-Remaining: 0`, or a secondary limit with `Retry-After`), or an answer reports
/// nothing remaining, no further call is made until the reset time: continuing to call while
/// limited can get an integration banned ("Rate limits for the REST API", exceeding the limit).
final class GitHubRateLimit: Sendable {
    private struct State {
        /// Wall-clock seconds before which no call is made.
        var blockedUntil: Double = 0
        var limit: Int?
        var remaining: Int?
        var reset: Int64?
    }

    private let state = Mutex(State())

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
        let refused = status == 403 || status == 429
        var wait: Double?
        if refused {
            if let retryAfter {
                wait = Double(max(1, retryAfter))
            } else if remaining == 0, let reset {
                wait = max(1, Double(reset) - now)
            } else if status == 429 || Self.mentionsRateLimit(body) {
                // A secondary limit without headers: wait at least a minute (GitHub's guidance).
                wait = 60
            }
        } else if remaining == 0, let reset, Double(reset) > now {
            // Nothing left: the next call would be refused, so make none until the reset.
            wait = Double(reset) - now
        }
        state.withLock { state in
            if let remaining { state.remaining = remaining }
            if let limit { state.limit = limit }
            if let reset { state.reset = reset }
            if let wait { state.blockedUntil = max(state.blockedUntil, now + wait) }
        }
        guard refused, let wait else { return nil }
        return max(1, Int(wait.rounded(.up)))
    }

    /// Forgets a block (tests; a new installation token has its own limit).
    func clear() { state.withLock { $0.blockedUntil = 0 } }

    private static func mentionsRateLimit(_ body: [UInt8]) -> Bool {
        String(decoding: body.prefix(4096), as: UTF8.self).lowercased().contains("rate limit")
    }
}
