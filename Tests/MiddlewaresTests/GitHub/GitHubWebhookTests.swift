@testable import Middlewares
import Pipeline
import Testing

@Suite("github.webhook signature and names")
struct GitHubWebhookTests {
    @Test("X-Hub-Signature-256 is sha256= and the hex HMAC-SHA256 of the raw body")
    func signature() {
        // The example from GitHub's "Validating webhook deliveries".
        let secret = Secret("It's a Secret to Everybody")
        let body = Array("Hello, World!".utf8)
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(GitHubWebhook.verify(signature: good, body: body, secret: secret))
        #expect(!GitHubWebhook.verify(signature: good, body: Array("Hello, World?".utf8), secret: secret))
        #expect(!GitHubWebhook.verify(signature: good, body: body, secret: Secret("other")))
        #expect(!GitHubWebhook.verify(signature: nil, body: body, secret: secret))
        #expect(!GitHubWebhook.verify(signature: String(good.dropLast(2)), body: body, secret: secret))
        #expect(!GitHubWebhook.verify(signature: "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", body: body, secret: secret))
    }

    @Test("payloads arrive as JSON or as the form field payload")
    func payloadForms() {
        #expect(GitHubWebhook.payload(Array(#"{"zen":"x"}"#.utf8), contentType: "application/json")?["zen"] == "x")
        #expect(GitHubWebhook.payload(Array("payload=%7B%22zen%22%3A%22x%22%7D".utf8),
                                      contentType: "application/x-www-form-urlencoded")?["zen"] == "x")
        #expect(GitHubWebhook.payload(Array("not json".utf8), contentType: nil) == nil)
    }

    @Test("repository names, refs and paths that could change a URL's meaning are refused before any call")
    func names() {
        #expect(GitHubSource.isValidRepoName("terraform-aws-vpc"))
        #expect(GitHubSource.isValidRepoName(".github"))
        for bad in ["", ".", "..", "a/b", "a b", "a%2fb", "a?b"] { #expect(!GitHubSource.isValidRepoName(bad), "\(bad)") }
        #expect(GitHubSource.isValidRef("v1.2.3"))
        #expect(GitHubSource.isValidRef("release/1.x"))
        for bad in ["", "-v1", "a..b", "a b", "a?b", "a#b", "a%2f", "/a", "a/", "a//b", "x.lock", "a~1", "a^"] {
            #expect(!GitHubSource.isValidRef(bad), "\(bad)")
        }
        #expect(GitHubSource.isValidFilePath("apt/dists/stable/Release"))
        for bad in ["", "../x", "a/../b", "a//b", "/a", "a/"] { #expect(!GitHubSource.isValidFilePath(bad), "\(bad)") }
    }
}
