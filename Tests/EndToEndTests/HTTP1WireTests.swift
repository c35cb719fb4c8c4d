import Foundation
import Testing

/// A directory with `www/` (a few files) and a plain listener `web` serving it through `files`.
func filesSite(listenerExtra: String = "", stackExtra: String = "") -> (TemporaryDirectory, String) {
    let dir = TemporaryDirectory()
    dir.write("www/hello.txt", "hello\n")
    dir.write("www/data.json", #"{"ok":true}"#)
    let config = """
        {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"\(listenerExtra)}],
         "stacks": {"site": {"chain": [{"type": "log"}, {"type": "files", "root": "www"}]\(stackExtra)}}}
        """
    return (dir, config)
}

/// The wire behaviour of the real binary over plain HTTP/1.1: keep-alive, pipelining, limits and
/// the framing attacks, each sent as exact bytes on a raw socket or through curl.
@Suite("HTTP/1.1 on the wire (real binary)")
struct HTTP1WireTests {
    @Test("keep-alive: curl reuses one connection for several requests")
    func keepAliveReuse() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let result = Tool.curl(["-v", gateway.url("web", "/hello.txt"), gateway.url("web", "/data.json"), gateway.url("web", "/hello.txt")])
        #expect(result.status == 0)
        #expect(result.output == "hello\n{\"ok\":true}hello\n")
        #expect(result.stderr.components(separatedBy: "Re-using existing connection").count - 1 == 2, "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "Connected to").count - 1 == 1)
    }

    @Test("pipelined requests on one socket are answered in order")
    func pipelining() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let raw = try RawConnection(port: gateway.port("web"))
        raw.send("GET /data.json HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
            + "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let text = String(decoding: raw.readAll(timeout: 10), as: UTF8.self)
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
        #expect(statuses == ["200", "404", "200", "200"])
        #expect(text.hasSuffix("\r\n\r\nhello\n"))
        let ok = try #require(text.range(of: "{\"ok\":true}")), missing = try #require(text.range(of: "not found"))
        #expect(ok.lowerBound < missing.lowerBound)
        // The HEAD answer has the length but no body: exactly one "hello" follows.
        #expect(text.components(separatedBy: "hello\n").count == 2)
        #expect(text.components(separatedBy: "Content-Length: 6\r\n").count == 3)
    }

    @Test("100 KB of headers is refused with 431")
    func hugeHeaders() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let headers = (0..<50).map { "X-Filler-\($0): " + String(repeating: "a", count: 2000) }.joined(separator: "\n")
        dir.write("headers.txt", headers)
        let result = Tool.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "@" + dir.file("headers.txt"), gateway.url("web", "/hello.txt")])
        #expect(result.output == "431")
        let raw = try RawConnection(port: gateway.port("web"))
        raw.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n")
        #expect(String(decoding: raw.readAll(timeout: 10), as: UTF8.self).hasPrefix("HTTP/1.1 431 "))
    }

    @Test("a client that sends its whole too-large body before reading gets the 413, not a reset (lingering close)")
    func lingeringClose() throws {
        let (dir, config) = filesSite(stackExtra: #", "maxBodyBytes": "1MiB""#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let raw = try RawConnection(port: gateway.port("web"))
        // Well past what loopback socket buffers hold, well under the 16 MiB the gateway drops.
        let body = Data(repeating: 0x78, count: 12 << 20)
        let sent = raw.send(Data("POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        #expect(sent, "the gateway read and dropped the rest of the body instead of resetting the connection")
        let answer = String(decoding: raw.readAll(timeout: 10), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 413 "), "\(answer)")
    }

    @Test("an Expect other than 100-continue is answered 417 (RFC 9110 §10.1.1)")
    func unsupportedExpectation() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let refused = Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 200-ok", gateway.url("web", "/hello.txt")])
        #expect(refused.output == "417")
        #expect(Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", gateway.url("web", "/hello.txt")]).output == "200")
    }

    @Test("a target over 8 KiB is refused with 414; limits are configurable per listener")
    func longURI() throws {
        let (dir, config) = filesSite(listenerExtra: #", "limits": {"maxURIBytes": 100, "maxHeaderCount": 3}"#)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let result = Tool.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", gateway.url("web", "/" + String(repeating: "a", count: 200))])
        #expect(result.output == "414")
        let headers = Tool.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "A: 1", "-H", "B: 2", gateway.url("web", "/hello.txt")])
        #expect(headers.output == "431")
        #expect(Tool.curl(["-s", gateway.url("web", "/hello.txt")]).output == "hello\n")
    }

    /// The framing attacks of RFC 9112, sent raw; each must get a 400 and a closed connection,
    /// and the request hidden behind it must never be answered.
    static let attacks: [(String, String)] = [
        ("CL with TE", "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("differing CL", "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nContent-Length: 60\r\n\r\n"),
        ("invalid chunk size", "POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
        ("chunk size with 0x", "POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
        ("obs-fold", "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n"),
        ("bare CR", "GET /hello.txt HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n"),
        ("NUL in a header", "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-A: b\u{0}c\r\n\r\n"),
        ("space before colon", "GET /hello.txt HTTP/1.1\r\nHost : t\r\n\r\n"),
        ("no Host", "GET /hello.txt HTTP/1.1\r\n\r\n"),
    ]

    @Test("framing attacks get 400 and close; nothing behind them is answered", arguments: attacks.indices)
    func framingAttack(_ index: Int) throws {
        let (name, attack) = Self.attacks[index]
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let raw = try RawConnection(port: gateway.port("web"))
        raw.send(attack + "GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = String(decoding: raw.readAll(timeout: 10), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(name): \(text)")
        #expect(text.contains("\r\nConnection: close\r\n"), "\(name)")
        #expect(!text.contains("\"ok\""), "\(name): the request behind the attack was answered")
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "\(name)")
        #expect(raw.isClosedByPeer(within: 5), "\(name)")
    }

    @Test("HTTP/1.0: close by default, keep-alive on request; Date on every response")
    func http10() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let plain = try RawConnection(port: gateway.port("web"))
        plain.send("GET /hello.txt HTTP/1.0\r\n\r\n")
        let text = String(decoding: plain.readAll(timeout: 10), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n"))
        #expect(text.contains("\r\nDate: "))
        #expect(text.hasSuffix("hello\n"))

        let kept = try RawConnection(port: gateway.port("web"))
        kept.send("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let first = kept.read(untilContains: "hello\n")
        #expect(first.contains("\r\nConnection: keep-alive\r\n"))
        kept.send("GET /data.json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(kept.read(untilContains: "true}").contains("{\"ok\":true}"))
    }

    @Test("a 304 carries the validators and no body or zero length")
    func notModified() throws {
        let (dir, config) = filesSite()
        let gateway = try GatewayProcess(config: config, directory: dir)
        let headers = Tool.curl(["-s", "-D", "-", "-o", "/dev/null", gateway.url("web", "/hello.txt")]).output
        let etag = try #require(headers.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("etag: ") }).dropFirst(6)
        let raw = try RawConnection(port: gateway.port("web"))
        raw.send("GET /hello.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: \(etag)\r\n\r\nGET /data.json HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = raw.read(untilContains: "true}")
        #expect(text.hasPrefix("HTTP/1.1 304 Not Modified\r\n"))
        let notModifiedHead = try #require(text.components(separatedBy: "\r\n\r\n").first)
        #expect(notModifiedHead.contains("ETag: \(etag)"))
        #expect(!notModifiedHead.contains("Content-Length"))
        #expect(text.contains("HTTP/1.1 200 OK"))
    }

    @Test("a large file arrives whole and intact (sendfile on plain sockets), ranges too")
    func largeFile() throws {
        let (dir, config) = filesSite()
        let data = sampleBytes(5 << 20, seed: 3)
        dir.write("www/big.bin", data)
        let gateway = try GatewayProcess(config: config, directory: dir)
        let result = Tool.curl(["-s", "-o", dir.file("got.bin"), "-w", "%{http_code} %{size_download}", gateway.url("web", "/big.bin")])
        #expect(result.output == "200 \(data.count)")
        #expect(FileManager.default.contents(atPath: dir.file("got.bin")) == data)
        let range = Tool.curl(["-s", "-r", "1000000-1999999", "-o", dir.file("part.bin"), "-w", "%{http_code}", gateway.url("web", "/big.bin")])
        #expect(range.output == "206")
        #expect(FileManager.default.contents(atPath: dir.file("part.bin")) == data.subdata(in: 1_000_000..<2_000_000))
    }
}
