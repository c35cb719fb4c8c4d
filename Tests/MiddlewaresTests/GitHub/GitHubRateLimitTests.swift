@testable import Middlewares
import Pipeline
import Testing

@Suite("GitHub rate-limit awareness")
struct GitHubRateLimitTests {
    let now = 1_700_000_000.0

    @Test("403 with X-RateLimit-Remaining 0 blocks until X-RateLimit-Reset")
    func primaryLimit() {
        let limit = GitHubRateLimit()
        let headers: HTTPFields = ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(Int(now) + 90), "X-RateLimit-Limit": "5000"]
        #expect(limit.record(status: 403, headers: headers, body: [], now: now) == 90)
        #expect(limit.retryAfter(now: now + 30) == 60)
        #expect(limit.retryAfter(now: now + 91) == nil)
    }

    @Test("a secondary limit's Retry-After wins; 429 without headers waits a minute")
    func secondaryLimit() {
        let limit = GitHubRateLimit()
        #expect(limit.record(status: 429, headers: ["Retry-After": "30", "X-RateLimit-Remaining": "4000"], body: [], now: now) == 30)
        #expect(limit.retryAfter(now: now) == 30)
        let other = GitHubRateLimit()
        #expect(other.record(status: 429, headers: [:], body: [], now: now) == 60)
    }

    @Test("403 for a missing permission is not a rate limit")
    func permissionDenied() {
        let limit = GitHubRateLimit()
        let body = Array(#"{"message":"Resource not accessible by integration"}"#.utf8)
        #expect(limit.record(status: 403, headers: ["X-RateLimit-Remaining": "4999"], body: body, now: now) == nil)
        #expect(limit.retryAfter(now: now) == nil)
        #expect(limit.record(status: 403, headers: [:], body: Array(#"{"message":"You have exceeded a secondary rate limit"}"#.utf8),
                             now: now) == 60)
    }

    @Test("a successful answer that spends the last call blocks until the reset, without calling it a refusal")
    func lastCallSpent() {
        let limit = GitHubRateLimit()
        #expect(limit.record(status: 200, headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(Int(now) + 10)], body: [],
                             now: now) == nil)
        #expect(limit.retryAfter(now: now) == 10)
    }
}
