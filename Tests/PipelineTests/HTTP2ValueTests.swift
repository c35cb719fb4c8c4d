import Testing
@testable import Pipeline

@Suite("HTTP/2 heads, preface and flood guard")
struct HTTP2ValueTests {
    private func head(_ fields: [(String, String)], limit: Int = 64 * 1024) -> HTTP2RequestHead {
        var head = HTTP2RequestHead(limit: limit)
        for (name, value) in fields {
            Array(name.utf8).withUnsafeBufferPointer { n in Array(value.utf8).withUnsafeBufferPointer { v in head.add(name: n, value: v) } }
        }
        return head
    }

    @Test("a request head becomes the same Request value HTTP/1.1 produces")
    func requestFromPseudoFields() {
        let h = head([(":method", "GET"), (":scheme", "https"), (":authority", "registry.example.com:8443"),
                      (":path", "/v1/modules/acme/vpc/aws/versions?x=1"), ("accept", "application/json"),
                      ("cookie", "a=1"), ("cookie", "b=2")])
        let request = h.request(scheme: "https", body: .empty)
        #expect(request.method == .get)
        #expect(request.version == .http2)
        #expect(request.host == "registry.example.com")
        #expect(request.path == "/v1/modules/acme/vpc/aws/versions")
        #expect(request.query == "x=1")
        #expect(request.headers["Accept"] == "application/json")
        #expect(request.headers["Cookie"] == "a=1; b=2")   // RFC 9113 §8.2.3
        #expect(!request.headers.contains(":path"))
    }

    @Test("without :authority the host field names the host; the connection decides the scheme")
    func hostFallback() {
        let request = head([(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "a.test")]).request(scheme: "http", body: .empty)
        #expect(request.authority == "a.test")
        #expect(request.scheme == "http")
    }

    @Test("a header list over the limit is counted as RFC 9113 counts it and not stored")
    func headerListLimit() {
        var fields = [(":method", "GET"), (":path", "/")]
        for i in 0..<40 { fields.append(("x-pad-\(i)", String(repeating: "a", count: 100))) }
        let small = head(fields, limit: 64 * 1024)
        #expect(!small.isTooLarge)
        #expect(small.listBytes == fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 32 })
        let large = head(fields, limit: 2048)
        #expect(large.isTooLarge)
        #expect(large.fields.isEmpty)
    }

    @Test("a response head: :status first, lower-case names, codec-owned fields dropped, date and length added")
    func responseHead() {
        let headers: HTTPFields = ["Content-Type": "text/plain", "Connection": "close", "Transfer-Encoding": "chunked",
                                   "Content-Length": "999", "X-Bad": "a\r\nb", "Keep-Alive": "timeout=5"]
        let fields = HTTP2ResponseHead(status: 200, headers: headers, length: 5, date: Array("Sun, 22 Nov 2026 00:00:00 GMT".utf8)).fields
        #expect(fields.map(\.name) == [":status", "content-type", "x-bad", "date", "content-length"])
        #expect(fields[0].value == "200")
        #expect(fields[2].value == "ab")
        #expect(fields[4].value == "5")
    }

    @Test("204 and interim responses announce no length; a middleware's date is kept")
    func responseHeadWithoutLength() {
        let noContent = HTTP2ResponseHead(status: 204, headers: ["Date": "x"], length: 0, date: Array("y".utf8)).fields
        #expect(noContent.map(\.name) == [":status", "date"])
        #expect(noContent[1].value == "x")
        #expect(HTTP2ResponseHead(status: 100, headers: [:], length: nil, date: []).fields.map(\.name) == [":status"])
        #expect(HTTP2ResponseHead(trailers: ["Grpc-Status": "0", ":status": "1", "TE": "x"]).fields.map(\.name) == ["grpc-status"])
    }

    @Test("the preface is recognised from its first bytes; HTTP/1.1 is told apart at once")
    func preface() {
        let preface = HTTP2Preface.bytes
        #expect(preface.withUnsafeBytes { HTTP2Preface.matches($0) } == true)
        #expect(Array(preface.prefix(10)).withUnsafeBytes { HTTP2Preface.matches($0) } == nil)
        #expect(Array("GET / HTTP/1.1\r\n".utf8).withUnsafeBytes { HTTP2Preface.matches($0) } == false)
        #expect(Array("PRI * HTTP/1.1\r\n".utf8).withUnsafeBytes { HTTP2Preface.matches($0) } == false)
    }

    @Test("a bucket allows its rate as a burst, then refuses until time refills it")
    func bucket() {
        var bucket = HTTP2FloodGuard.Bucket(perSecond: 100, now: 1000)
        #expect((0..<100).allSatisfy { _ in bucket.take(now: 1000) })
        var allowed = bucket.take(now: 1000)
        #expect(!allowed)
        allowed = bucket.take(now: 1005)       // 0.5 token
        #expect(!allowed)
        allowed = bucket.take(now: 1010)       // 1 token after 10 ms
        #expect(allowed)
        allowed = bucket.take(now: 3000)       // refilled, capped at 100
        #expect(allowed)
        var taken = 0
        while bucket.take(now: 3000) { taken += 1 }
        #expect(taken == 99)
    }

    @Test("the flood guard counts resets and control frames separately")
    func floodGuard() {
        var settings = HTTP2Settings()
        settings.maxResetsPerSecond = 3
        settings.maxControlFramesPerSecond = 10
        var guardian = HTTP2FloodGuard(settings: settings, now: 0)
        #expect((0..<3).allSatisfy { _ in guardian.allowReset(now: 0) })
        let sixth = guardian.allowReset(now: 0)
        #expect(!sixth)
        #expect((0..<10).allSatisfy { _ in guardian.allowControlFrame(now: 0) })
        let eleventh = guardian.allowControlFrame(now: 0)
        #expect(!eleventh)
    }

    @Test("listener http2 options are read, checked and defaulted; TLS listeners offer h2 first")
    func config() throws {
        func load(_ listener: String) -> (LoadedPipeline?, [String]) {
            let json = """
                {"version": 1, "listeners": [\(listener)],
                 "stacks": {"s": {"chain": [{"type": "t"}]}}}
                """
            var registry = TypeRegistry()
            registry.register(MiddlewareType(name: "t", summary: "test", phase: .behaviour, isTerminal: true, options: [],
                                             build: { _, _ in ClosureMiddleware { _, _ in Response() } }))
            let (pipeline, diagnostics) = PipelineLoader.load(Array(json.utf8), environment: ConfigEnvironment(variables: [:], baseDirectory: "/tmp"),
                                                              registry: registry)
            return (pipeline, diagnostics.errors.map { "\($0.pointer) \($0.message)" })
        }
        let (pipeline, errors) = load("""
            {"name": "a", "listen": "127.0.0.1:0", "protocols": ["h2", "http/1.1"],
             "http2": {"maxConcurrentStreams": 16, "maxHeaderListBytes": "16KiB", "initialWindowBytes": 65535,
                       "maxResetsPerSecond": 50, "maxControlFramesPerSecond": 100}}
            """)
        #expect(errors.isEmpty)
        let settings = try #require(pipeline?.listeners.first?.http2)
        #expect(settings.maxConcurrentStreams == 16)
        #expect(settings.maxHeaderListBytes == 16 * 1024)
        #expect(settings.initialWindowBytes == 65535)
        #expect(settings.maxResetsPerSecond == 50)
        #expect(settings.maxControlFramesPerSecond == 100)
        let (_, bad) = load("""
            {"name": "b", "listen": "127.0.0.1:0", "http2": {"maxHeaderListBytes": 10, "maxControlFramesPerSecond": 1, "pushes": 1}}
            """)
        #expect(bad.contains { $0.hasPrefix("/listeners/0/http2/maxHeaderListBytes") })
        #expect(bad.contains { $0.hasPrefix("/listeners/0/http2/maxControlFramesPerSecond") })
        #expect(bad.contains { $0.hasPrefix("/listeners/0/http2/pushes") })
        #expect(ListenerConfig.defaultTLSProtocols == ["h2", "http/1.1"])
    }
}
