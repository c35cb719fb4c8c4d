import Testing
@testable import Pipeline

@Suite("metrics registry")
struct MetricsRegistryTests {
    @Test("request durations land in the right histogram buckets, cumulative, with sum and count")
    func durationHistogram() {
        let registry = MetricsRegistry()
        for milliseconds in [0.5, 3, 700, 100_000] {
            registry.record(stack: "s", version: .http1_1, status: 200, bytes: 1, aborted: false,
                            duration: .microseconds(Int64(milliseconds * 1000)))
        }
        let text = registry.render()
        let series = #"stack="s",protocol="HTTP/1.1",status="2xx""#
        func bucket(_ le: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix("gateway_request_duration_seconds_bucket{\(series),le=\"\(le)\"}") }
                .map { String($0.split(separator: " ").last!) }
        }
        #expect(bucket("0.001") == "1")
        #expect(bucket("0.0025") == "1")
        #expect(bucket("0.005") == "2")
        #expect(bucket("0.5") == "2")
        #expect(bucket("1.0") == "3")
        #expect(bucket("60.0") == "3")
        #expect(bucket("+Inf") == "4")
        #expect(text.contains("gateway_request_duration_seconds_count{\(series)} 4\n"))
        #expect(text.contains("gateway_request_duration_seconds_sum{\(series)} 100.7035\n"), "\(text)")
    }

    final class Source: MetricsSource {
        let metricsKey: String
        let value: Int
        init(_ key: String, _ value: Int) {
            metricsKey = key
            self.value = value
        }
        func renderMetrics() -> String {
            "# HELP t_total T.\n# TYPE t_total counter\nt_total{at=\"\(metricsKey)\"} \(value)\n"
        }
    }

    @Test("a pipeline's sources show from its activation until the next; families from several sources share one header")
    func activation() {
        let registry = MetricsRegistry()
        let live = [Source("/stacks/a/chain/0", 1), Source("/middlewares/shared", 2)]
        registry.activate(live)
        let text = registry.render()
        #expect(text.contains("# TYPE t_total counter\nt_total{at=\"/stacks/a/chain/0\"} 1\nt_total{at=\"/middlewares/shared\"} 2\n"), "\(text)")
        #expect(text.components(separatedBy: "# TYPE t_total").count == 2)
        registry.activate([Source("/stacks/b/chain/0", 5)])
        #expect(!registry.render().contains("/stacks/a/chain/0"))
        #expect(registry.activeKeys == ["/stacks/b/chain/0"])
    }
}
