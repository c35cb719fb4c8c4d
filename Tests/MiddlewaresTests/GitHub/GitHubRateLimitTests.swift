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

    @Test("secondary limits without Retry-After wait 60 s, doubling to 15 minutes; an answer that is not a refusal starts again")
    func secondaryBackoff() {
        let limit = GitHubRateLimit()
        let refusal = Array(#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#.utf8)
        var waits: [Int?] = []
        for _ in 0..<7 { waits.append(limit.record(status: 403, headers: ["X-RateLimit-Remaining": "4100"], body: refusal, now: now)) }
        #expect(waits == [60, 120, 240, 480, 900, 900, 900])
        #expect(limit.record(status: 429, headers: [:], body: [], now: now) == 900, "a 429 without headers is one more")
        // A refusal that names its wait is obeyed as it is, and still counts as one in a row.
        #expect(limit.record(status: 429, headers: ["Retry-After": "5"], body: [], now: now) == 5)
        #expect(limit.record(status: 200, headers: ["X-RateLimit-Remaining": "4099"], body: [], now: now) == nil)
        #expect(limit.record(status: 403, headers: [:], body: refusal, now: now) == 60, "success reset the sequence")
        #expect(limit.record(status: 304, headers: [:], body: [], now: now) == nil)
        #expect(limit.record(status: 403, headers: [:], body: refusal, now: now) == 60)
    }

    @Test("the primary limit's reset is measured against GitHub's Date, whatever this host's clock says")
    func resetAgainstGitHubsClock() {
        let limit = GitHubRateLimit()
        // This host runs 90 s fast: GitHub's Date says now - 90, the reset is 30 s after it.
        let github = Int64(now) - 90
        let headers: HTTPFields = ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(github + 30), "Date": HTTPDate.format(github)]
        #expect(limit.record(status: 403, headers: headers, body: [], now: now) == 30)
        #expect(limit.retryAfter(now: now + 29) == 1)
        #expect(limit.retryAfter(now: now + 31) == nil)
    }

    @Test("/metrics shows the remaining calls and the limit GitHub last reported, labelled with the source's pointer")
    func metrics() {
        let limit = GitHubRateLimit(key: "/sources/gh")
        #expect(!limit.renderMetrics().contains("gateway_github_ratelimit_remaining"), "nothing reported yet")
        limit.record(status: 200, headers: ["X-RateLimit-Remaining": "4321", "X-RateLimit-Limit": "5000"], body: [])
        var text = limit.renderMetrics()
        #expect(text.contains("\ngateway_github_ratelimit_remaining{source=\"/sources/gh\"} 4321\n"), "\(text)")
        #expect(text.contains("\ngateway_github_ratelimit_limit{source=\"/sources/gh\"} 5000\n"), "\(text)")
        #expect(text.contains("\ngateway_github_ratelimit_blocked{source=\"/sources/gh\"} 0\n"), "\(text)")
        limit.record(status: 200, headers: ["X-RateLimit-Remaining": "4320"], body: [])
        text = limit.renderMetrics()
        #expect(text.contains("\ngateway_github_ratelimit_remaining{source=\"/sources/gh\"} 4320\n"), "\(text)")
        limit.record(status: 403, headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(Int(WallClock.now) + 600)], body: [])
        #expect(limit.renderMetrics().contains("\ngateway_github_ratelimit_blocked{source=\"/sources/gh\"} 1\n"))
    }
}
