import Testing
@testable import Pipeline

/// A path is routed by what it means: dot segments are resolved before a stack is chosen, and
/// encoded separators that would mean another path further on are refused.
@Suite("request paths: dot segments resolved, encoded separators refused")
struct PathSafetyTests {
    @Test("dot segments, raw or percent-encoded, are resolved as RFC 3986 §5.2.4 says",
          arguments: [("/public/../admin", "/admin"), ("/public/./x", "/public/x"), ("/./Release", "/Release"), ("/..", "/"),
                      ("/a/b/..", "/a/"), ("/a/.", "/a/"), ("/a/./", "/a/"), ("/public/%2e%2e/admin/users", "/admin/users"),
                      ("/public/%2E./admin", "/admin"), ("/public/.%2e/admin", "/admin"), ("/a/%2E", "/a/"),
                      ("/../../etc/passwd", "/etc/passwd"), ("/a/b/../../../c", "/c"), ("/dists/./stable/../stable/Release", "/dists/stable/Release")])
    func resolved(_ path: String, _ expected: String) {
        #expect(Request.checkPath(path) == .dotSegments, "\(path)")
        #expect(Request.removingDotSegments(path) == expected, "\(path)")
    }

    @Test("encoded slashes, backslashes and NUL are refused",
          arguments: ["/public%2f..%2fadmin", "/a%2Fb", "/a%5cb", "/a%00b", "/a\\b", "/public/..\\admin", "/public/..%2fadmin"])
    func refused(_ path: String) {
        guard case .refused = Request.checkPath(path) else {
            Issue.record("\(path) was not refused")
            return
        }
    }

    @Test("ordinary paths, dots in names included, pass untouched",
          arguments: ["/", "/a/b", "/v1/modules/acme/vpc/aws/1.2.3/download", "/.well-known/terraform.json", "/...", "/a/.../b",
                      "/a..b", "/file.tar.gz", "/x%20y", "/dists/stable/Release.gpg", "/a/b/", "//double", "/%2e%2e%2e", "/100%", "/a%zz"])
    func clean(_ path: String) {
        #expect(Request.checkPath(path) == .clean, "\(path)")
    }
}
