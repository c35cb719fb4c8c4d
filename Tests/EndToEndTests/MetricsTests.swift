import Foundation
import Testing

@Suite("metrics")
struct MetricsTests {
    @Test("/metrics counts requests by stack, protocol and status class, and shows the cache's counters")
    func protocolsCounted() throws {
        let dir = TemporaryDirectory()
        dir.write("www/a.txt", "a\n")
        let gateway = try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0", "protocols": ["http/1.1", "h2"]}],
             "stacks": {
               "metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
               "site": {"chain": [{"type": "log"}, {"type": "cache", "memory": "1MiB"}, {"type": "files", "root": "www"}]}},
             "run": ["metrics", "site"]}
            """, directory: dir)
        for _ in 0..<2 { #expect(Tool.curl(["--http1.1", "-f", gateway.url("web", "/a.txt")]).status == 0) }
        for _ in 0..<3 { #expect(Tool.curl(["--http2-prior-knowledge", "-f", gateway.url("web", "/a.txt")]).status == 0) }
        #expect(Tool.curl(["--http1.1", gateway.url("web", "/missing")]).status == 0)
        let metrics = Tool.curl(["-f", gateway.url("web", "/metrics")]).output
        #expect(metrics.contains("gateway_requests_total{stack=\"site\",protocol=\"HTTP/1.1\",status=\"2xx\"} 2"), "\(metrics)")
        #expect(metrics.contains("gateway_requests_total{stack=\"site\",protocol=\"HTTP/2\",status=\"2xx\"} 3"), "\(metrics)")
        #expect(metrics.contains("gateway_requests_total{stack=\"site\",protocol=\"HTTP/1.1\",status=\"4xx\"} 1"), "\(metrics)")
        #expect(metrics.contains("gateway_response_bytes_total{stack=\"site\",protocol=\"HTTP/2\",status=\"2xx\"} 6"), "\(metrics)")
        #expect(metrics.contains("# TYPE gateway_cache_hits_total counter"), "\(metrics)")
        // The duration histogram: cumulative buckets ending at +Inf with the request count.
        #expect(metrics.contains("# TYPE gateway_request_duration_seconds histogram"), "\(metrics)")
        let series = #"stack="site",protocol="HTTP/2",status="2xx""#
        let buckets = metrics.split(separator: "\n").filter { $0.hasPrefix("gateway_request_duration_seconds_bucket{\(series),") }
            .compactMap { Int($0.split(separator: " ").last ?? "") }
        #expect(buckets.count == 16 && buckets.last == 3, "\(metrics)")
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0 <= $1 }, "cumulative: \(buckets)")
        #expect(metrics.contains("gateway_request_duration_seconds_count{\(series)} 3\n"), "\(metrics)")
        // The access log says the same per request.
        #expect(gateway.waitForLogLine { $0.contains("\"protocol\":\"HTTP/2\"") && $0.contains("/a.txt") })
    }

    static func twoCaches(_ extra: String = "") -> String {
        """
        {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
         "middlewares": {"shared-cache": {"type": "cache", "memory": "1MiB"}},
         "stacks": {
           "metrics": {"match": {"pathPrefix": ["/metrics"]}, "chain": [{"type": "metrics"}]},
           "a": {"match": {"pathPrefix": ["/a"]}, "chain": ["shared-cache", {"type": "files", "root": "www"}]},
           "b": {"chain": [{"type": "log"}, {"type": "cache", "memory": "1MiB"}, {"type": "files", "root": "www"}]}\(extra)},
         "run": ["metrics", "a", "b"]}
        """
    }

    @Test("each cache has its own series, named by its JSON pointer; a reload that fails keeps the live caches' series")
    func cachesByPointer() throws {
        let dir = TemporaryDirectory()
        dir.write("www/a.txt", "a\n")
        dir.write("www/b.txt", "b\n")
        let gateway = try GatewayProcess(config: Self.twoCaches(), directory: dir)
        for _ in 0..<3 { #expect(Tool.curl(["-f", gateway.url("web", "/a.txt")]).status == 0) }
        for _ in 0..<2 { #expect(Tool.curl(["-f", gateway.url("web", "/b.txt")]).status == 0) }
        let expected = ["gateway_cache_hits_total{cache=\"/middlewares/shared-cache\"} 2",
                        "gateway_cache_misses_total{cache=\"/middlewares/shared-cache\"} 1",
                        "gateway_cache_hits_total{cache=\"/stacks/b/chain/1\"} 1",
                        "gateway_cache_misses_total{cache=\"/stacks/b/chain/1\"} 1"]
        let metrics = Tool.curl(["-f", gateway.url("web", "/metrics")]).output
        for line in expected { #expect(metrics.contains(line + "\n"), "\(line) in:\n\(metrics)") }
        // One family header for both caches (a valid exposition).
        #expect(metrics.components(separatedBy: "# TYPE gateway_cache_hits_total counter").count == 2, "\(metrics)")

        // The same caches, then a mistake after them: the load fails after building both.
        dir.write("pipeline.json", Self.twoCaches(#", "c": {"chain": [{"type": "no.such.type"}]}"#))
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        let after = Tool.curl(["-f", gateway.url("web", "/metrics")]).output
        for line in expected { #expect(after.contains(line + "\n"), "\(line) after a failed reload, in:\n\(after)") }
    }
}
