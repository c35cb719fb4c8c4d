import Testing
import Pipeline
@testable import Middlewares

/// `upstream{url}` rewrites a Location into its url to the path the client uses.
@Suite("upstream: Location rewriting")
struct UpstreamLocationTests {
    static let base = HTTPURL("http://10.0.0.5:8080/base/")!

    @Test("absolute URLs and absolute paths into the base become the client's path",
          arguments: [
            ("http://10.0.0.5:8080/base/next?x=1", nil, "/next?x=1"),
            ("HTTP://10.0.0.5:8080/base/next", nil, "/next"),
            ("http://10.0.0.5:8080/base", nil, "/"),
            ("/base/a/b", nil, "/a/b"),
            ("http://10.0.0.5:8080/base/next", "/proxy", "/proxy/next"),
            ("/base?page=2", "/proxy", "/proxy?page=2"),
          ] as [(String, String?, String)])
    func rewritten(_ location: String, _ strip: String?, _ expected: String) {
        #expect(Upstream.clientLocation(location, base: Self.base, stripPrefix: strip) == expected)
    }

    @Test("anything outside the base is left as it is",
          arguments: ["http://10.0.0.5:8081/base/next", "https://10.0.0.5:8080/base/next", "http://example.com/base/next",
                      "/baseball", "/other", "//10.0.0.5:8080/base/next", "next", "ftp://10.0.0.5:8080/base/"])
    func kept(_ location: String) {
        #expect(Upstream.clientLocation(location, base: Self.base, stripPrefix: nil) == nil)
    }

    @Test("with a base at the root, every path on that origin is the client's")
    func rootBase() {
        let root = HTTPURL("http://upstream.internal")!
        #expect(Upstream.clientLocation("http://upstream.internal:80/x/y", base: root, stripPrefix: nil) == "/x/y")
        #expect(Upstream.clientLocation("/x", base: root, stripPrefix: "/mirror") == "/mirror/x")
    }
}
