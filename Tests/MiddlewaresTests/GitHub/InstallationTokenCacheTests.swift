@testable import Middlewares
import Pipeline
import Testing

@Suite("GitHub installation tokens: refresh margin and clock skew")
struct InstallationTokenCacheTests {
    static let app = try! GitHubApp(id: "Iv23liExample", installation: "1", privateKeyPEM: try! PrivateKey.generate(.rsa(bits: 2048)).pem)

    static func cache(callTimeout: Double = 30) -> InstallationTokenCache {
        InstallationTokenCache(app: app, endpoint: "http://127.0.0.1:9/app/installations/1/access_tokens", client: HTTPClient.shared,
                               rateLimit: GitHubRateLimit(), callTimeout: callTimeout)
    }

    @Test("a token is replaced five minutes before expiry, at least a call's timeout before, and at half-life when it is short")
    func refreshMargin() {
        let cache = Self.cache()
        #expect(cache.margin(lifetime: 3600) == 300, "GitHub's hour-long tokens: five minutes")
        #expect(cache.margin(lifetime: 600) == 150)
        #expect(cache.margin(lifetime: 90) == 30, "never closer to expiry than a call may take to arrive")
        #expect(cache.margin(lifetime: 8) == 4, "a short token is still used for half its life")
        #expect(Self.cache(callTimeout: 5).margin(lifetime: 60) == 15)
    }

    @Test("a clock skew is measured from GitHub's Date and corrected only beyond the tolerance")
    func skew() {
        let now = 1_700_000_000.0
        #expect(InstallationTokenCache.skew(sentAt: now, githubDate: now - 90, assumed: 0) == 90)
        #expect(InstallationTokenCache.skew(sentAt: now, githubDate: now + 120, assumed: 0) == -120)
        #expect(InstallationTokenCache.skew(sentAt: now, githubDate: now - 2, assumed: 0) == nil, "within Date's second and a slow request")
        #expect(InstallationTokenCache.skew(sentAt: now, githubDate: now - 91, assumed: 90) == nil, "already corrected")
    }

    @Test("the App JWT: iat a minute back and exp nine minutes ahead of the time given, iss a number or the Client ID")
    func jwt() throws {
        let token = try JWT(parsing: try Self.app.jwt(now: 1_700_000_000.5), maxBytes: 16 * 1024)
        #expect(token.claims["iat"]?.number == 1_699_999_940)
        #expect(token.claims["exp"]?.number == 1_700_000_540)
        #expect(token.claims["iss"] == "Iv23liExample")
        let numeric = try GitHubApp(id: "1001", installation: "1", privateKeyPEM: try PrivateKey.generate(.rsa(bits: 2048)).pem)
        #expect(try JWT(parsing: try numeric.jwt(now: 0), maxBytes: 16 * 1024).claims["iss"] == 1001)
    }
}
