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
}
