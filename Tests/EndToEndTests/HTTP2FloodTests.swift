import Foundation
import HTTP2TestClient
import Testing

/// The known HTTP/2 floods against the running binary, each from a raw-frame client. Every test
/// is sized to stay under nghttp2's own backstops (reset limiter, CONTINUATION count, ack queue),
/// so it fails if the gateway's limit is removed.
@Suite("HTTP/2 floods", .serialized)
struct HTTP2FloodTests {
    static let calm: UInt32 = 0xb   // ENHANCE_YOUR_CALM

    @Test("rapid reset (CVE-2023-44487) ends in GOAWAY ENHANCE_YOUR_CALM while another client is served")
    func rapidReset() throws {
        let gateway = try HTTP2Gateway()
        let attacker = try gateway.rawClient()
        // 700 resets at once: well over the default 200 per second (even if the server takes two
        // seconds to read them), under nghttp2's own backstop of 800.
        var frames: [H2Frame] = []
        for i in 0..<700 {
            let stream = UInt32(1 + 2 * i)
            frames.append(H2Client.requestFrame(stream: stream, path: "/hello.txt"))
            frames.append(.rst(stream: stream, code: 8))
        }
        attacker.send(frames)
        let second = Tool.curl(["--http2-prior-knowledge", "-w", "\n%{http_version}", gateway.url("h2c", "/small.txt")])
        #expect(attacker.read(timeout: 20) { $0.goaway != nil })
        #expect(attacker.goaway?.errorCode == Self.calm)
        #expect(attacker.readUntilClosed())
        #expect(second.output == HTTP2Gateway.small + "\n2")
        let after = Tool.curl(["--http2-prior-knowledge", gateway.url("h2c", "/hello.txt")])
        #expect(after.output == HTTP2Gateway.hello)
        #expect(gateway.process.waitForLog("HTTP/2 client flood"))
    }

    @Test("a CONTINUATION flood (a header block that never ends) is cut off at the header list limit")
    func continuationFlood() throws {
        let gateway = try HTTP2Gateway()
        let attacker = try gateway.rawClient()
        // HEADERS and 6 CONTINUATION frames of 16 KiB, never END_HEADERS: under nghttp2's own
        // limit of 8 CONTINUATION frames, over the default 64 KiB header list.
        let block = HPACKLite.encode([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/")]
                                     + (0..<7).map { ("x-pad-\($0)", String(repeating: "a", count: 16000)) })
        var frames: [H2Frame] = []
        var offset = 0
        while offset < block.count, frames.count < 7 {
            let end = min(block.count, offset + 16384)
            frames.append(H2Frame(frames.isEmpty ? .headers : .continuation, stream: 1, payload: Array(block[offset..<end])))
            offset = end
        }
        attacker.send(frames)
        #expect(attacker.read(timeout: 20) { $0.goaway != nil })
        #expect(attacker.goaway?.errorCode == Self.calm)
        #expect(attacker.readUntilClosed())
        #expect(Tool.curl([gateway.url("h2c", "/hello.txt")]).output == HTTP2Gateway.hello)
    }

    @Test("an HPACK bomb (a small block that decodes to megabytes) ends in GOAWAY ENHANCE_YOUR_CALM and costs no memory")
    func hpackBomb() throws {
        let gateway = try HTTP2Gateway()
        let attacker = try gateway.rawClient()
        // One 4000-byte field goes into the server's dynamic table, then 10000 one-byte references
        // to it: 10 KiB on the wire, 40 MB decoded; decoding stops at the client's budget.
        var block = HPACKLite.encode([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/hello.txt")])
        let name = Array("x-bomb".utf8), value = [UInt8](repeating: 0x61, count: 4000)
        block += [0x40] + HPACKLite.integer(name.count, prefixBits: 7, flags: 0) + name + HPACKLite.integer(value.count, prefixBits: 7, flags: 0) + value
        block += [UInt8](repeating: 0xBE, count: 10000)   // indexed field 62: the newest dynamic entry
        attacker.send(H2Frame(.headers, flags: H2Frame.endHeaders | H2Frame.endStream, stream: 1, payload: block))
        #expect(attacker.read(timeout: 20) { $0.goaway != nil })
        #expect(attacker.goaway?.errorCode == Self.calm)
        #expect(attacker.readUntilClosed())
        #expect(gateway.residentBytes < 100 << 20)
        #expect(gateway.process.waitForLog("HPACK bomb"))
        // Other clients are served.
        #expect(Tool.curl(["--http2-prior-knowledge", gateway.url("h2c", "/hello.txt")]).output == HTTP2Gateway.hello)
    }

    @Test("listener limits hold over h2 against the binary: a long :path gets 414 and is not served")
    func listenerLimitsOverH2() throws {
        let gateway = try HTTP2Gateway(h2cOptions: #""limits": {"maxURIBytes": 100, "maxHeaderCount": 3}"#)
        let long = Tool.curl(["--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                              gateway.url("h2c", "/hello.txt?" + String(repeating: "q", count: 200))])
        #expect(long.output == "414 2")
        let many = Tool.curl(["--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                              "-H", "x-a: 1", "-H", "x-b: 2", "-H", "x-c: 3", gateway.url("h2c", "/hello.txt")])
        #expect(many.output == "431 2")
        #expect(Tool.curl(["--http2-prior-knowledge", gateway.url("h2c", "/hello.txt")]).output == HTTP2Gateway.hello)
        #expect(gateway.process.waitForLog("request refused"))
    }

    @Test("PING and SETTINGS floods end in GOAWAY ENHANCE_YOUR_CALM even when the client reads every ack",
          arguments: [H2Frame.ping(), H2Frame.settings([])])
    func controlFrameFlood(frame: H2Frame) throws {
        let gateway = try HTTP2Gateway()
        let attacker = try gateway.rawClient()
        // Batches of 200, reading the acknowledgements in between: nghttp2's own ack-queue limit
        // (1000 unsent acks) never fills; only the rate limit (1000 per second) can stop this.
        for _ in 0..<50 {
            attacker.send([H2Frame](repeating: frame, count: 200))
            attacker.read(timeout: 0.005) { $0.goaway != nil }
            if attacker.goaway != nil || attacker.isClosed { break }
        }
        attacker.read(timeout: 10) { $0.goaway != nil }
        #expect(attacker.goaway?.errorCode == Self.calm)
        #expect(attacker.readUntilClosed())
        #expect(Tool.curl(["--http2-prior-knowledge", gateway.url("h2c", "/hello.txt")]).output == HTTP2Gateway.hello)
    }

    @Test("a client that keeps its window at zero loses the stream after sendIdle (zero-window stall)")
    func zeroWindowStall() throws {
        let gateway = try HTTP2Gateway(bigBytes: 1 << 20, h2cOptions: #""timeouts": {"sendIdle": "1s"}"#)
        let attacker = try gateway.rawClient(initialWindow: 0)
        attacker.request(stream: 1, path: "/big.bin")
        #expect(attacker.read(timeout: 20) { $0.resets[1] != nil })
        #expect(attacker.resets[1] == 8)   // CANCEL
        #expect(attacker.statuses[1] == 200)
        #expect(attacker.received[1] == nil)
        #expect(gateway.process.waitForLogLine { $0.contains("\"path\":\"/big.bin\"") && $0.contains("\"aborted\":true") })
    }
}
