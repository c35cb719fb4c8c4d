import Foundation
import Testing
@testable import Pipeline

/// Answers `hello` without reading the request body.
struct Hello: Middleware {
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        .text("hello \(request.method) \(request.path)")
    }
}

/// Request and response bodies through the real engine: Content-Length and chunked in both
/// directions, 100-continue, body limits, body timeouts. The server runs in-process with test
/// middlewares that read and stream bodies; the clients are curl and raw sockets.
@Suite("HTTP/1.1 bodies in both directions")
struct EngineBodyTests {
    @Test("a Content-Length upload streams to the handler, after 100 Continue when asked")
    func contentLengthUpload() async throws {
        let server = try InProcessServer([UploadSummary()])
        let dir = TemporaryDirectory()
        let data = sampleBytes(3 << 20)
        dir.write("upload.bin", data)
        let result = Tool.curl(["-v", "--data-binary", "@" + dir.file("upload.bin"), "-H", "Expect: 100-continue", server.url("/up")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.output == "bytes=\(data.count) sum=\(byteSum(data))")
        #expect(result.stderr.contains("< HTTP/1.1 100 Continue"))
        await server.stop()
    }

    @Test("a chunked upload is decoded for the handler")
    func chunkedUpload() async throws {
        let server = try InProcessServer([UploadSummary()])
        let dir = TemporaryDirectory()
        let data = sampleBytes(1_500_001, seed: 7)
        dir.write("upload.bin", data)
        let result = Tool.curl(["-v", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + dir.file("upload.bin"), server.url("/up")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.output == "bytes=\(data.count) sum=\(byteSum(data))")
        #expect(result.stderr.contains("> Transfer-Encoding: chunked"))
        await server.stop()
    }

    @Test("a body of unknown length goes out chunked, exactly framed")
    func chunkedResponse() async throws {
        let server = try InProcessServer([StreamBody(), Hello()])
        let curl = Tool.curl(["-D", "-", "-o", "/dev/null", "-w", "%{size_download}", server.url("/stream?n=300000&piece=7000")])
        #expect(curl.output.contains("Transfer-Encoding: chunked"))
        #expect(curl.output.hasSuffix("300000"))
        #expect(!curl.output.contains("Content-Length"))

        let raw = try RawConnection(port: server.port)
        raw.send("GET /stream?n=10&piece=4 HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = raw.read(untilContains: "0\r\n\r\n")
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        #expect(body == "4\r\nxxxx\r\n4\r\nxxxx\r\n2\r\nxx\r\n0\r\n\r\n")
        await server.stop()
    }

    @Test("HTTP/1.0 gets a close-delimited body; HEAD gets no body and keeps the connection")
    func http10AndHead() async throws {
        let server = try InProcessServer([StreamBody(), Hello()])
        let old = try RawConnection(port: server.port)
        old.send("GET /stream?n=5000 HTTP/1.0\r\n\r\n")
        let response = String(decoding: old.readAll(timeout: 10), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(response.contains("Connection: close\r\n"))
        #expect(!response.contains("chunked"))
        #expect(response.hasSuffix("\r\n\r\n" + String(repeating: "x", count: 5000)))

        let raw = try RawConnection(port: server.port)
        raw.send("HEAD /stream?n=5000 HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        let both = raw.read(untilContains: "hello GET /after")
        #expect(both.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(!both.contains("xxxx"))
        #expect(both.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        await server.stop()
    }

    @Test("pipelined requests with bodies are answered in order")
    func pipelinedBodies() async throws {
        let server = try InProcessServer([UploadSummary()])
        let raw = try RawConnection(port: server.port)
        raw.send("POST /1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;x=y\r\ncde\r\n0\r\nT: v\r\n\r\n"
            + "POST /3 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nz")
        let text = raw.read(untilContains: "HTTP/1.1 200", occurrences: 3)
        let bodies = text.components(separatedBy: "\r\n\r\n").compactMap { part in part.hasPrefix("bytes=") ? String(part.prefix { $0 != "H" }) : nil }
        #expect(bodies == ["bytes=3 sum=294", "bytes=5 sum=495", "bytes=1 sum=122"])
        await server.stop()
    }

    @Test("a small body the handler ignores is drained and the connection reused")
    func unreadBodyDrained() async throws {
        let server = try InProcessServer([Hello()])
        let raw = try RawConnection(port: server.port)
        raw.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            + "GET /c HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = raw.read(untilContains: "hello GET /c")
        #expect(text.contains("hello POST /a"))
        #expect(text.contains("hello POST /b"))
        #expect(text.contains("hello GET /c"))
        #expect(!raw.isClosedByPeer(within: 0.3))
        await server.stop()
    }

    @Test("an invalid chunk size is a 400 and the connection closes: the smuggled request is never answered")
    func invalidChunkSize() async throws {
        for middleware in [UploadSummary() as any Middleware, Hello()] {
            let server = try InProcessServer([middleware])
            let raw = try RawConnection(port: server.port)
            raw.send("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5x\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n")
            let text = String(decoding: raw.readAll(timeout: 10), as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
            #expect(text.contains("Connection: close"))
            #expect(!text.contains("smuggled"))
            #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2)
            await server.stop()
        }
    }

    @Test("a body over the stack's maxBodyBytes is refused with 413 (declared or streamed)")
    func bodyTooLarge() async throws {
        let server = try InProcessServer([UploadSummary()], maxBodyBytes: 1000)
        let declared = try RawConnection(port: server.port)
        declared.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n")
        let refused = declared.read(untilContains: "too large")
        #expect(refused.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(refused)")

        let streamed = try RawConnection(port: server.port)
        let chunk = String(repeating: "a", count: 600)
        streamed.send("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n")
        let text = streamed.read(untilContains: "too large")
        #expect(text.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"), "\(text)")

        let fits = Tool.curl(["--data-binary", String(repeating: "b", count: 1000), server.url("/a")])
        #expect(fits.output == "bytes=1000 sum=98000")
        await server.stop()
    }

    @Test("a body that stops arriving ends with 408 after the body idle timeout")
    func bodyIdleTimeout() async throws {
        var timeouts = Timeouts()
        timeouts.bodyIdle = .seconds(1)
        let server = try InProcessServer([UploadSummary()], timeouts: timeouts)
        let raw = try RawConnection(port: server.port)
        raw.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        let text = String(decoding: raw.readAll(timeout: 15), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(text)")
        #expect(raw.isClosedByPeer(within: 5))
        await server.stop()
    }

    @Test("responses carry Date, and Content-Length when the length is known")
    func dateAndLength() async throws {
        let server = try InProcessServer([Hello()])
        let raw = try RawConnection(port: server.port)
        raw.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = raw.read(untilContains: "hello GET /x")
        #expect(text.contains("\r\nDate: "))
        #expect(text.contains("\r\nContent-Length: 12\r\n"))
        let date = text.components(separatedBy: "\r\n").first { $0.hasPrefix("Date: ") }.map { String($0.dropFirst(6)) }
        #expect(date.flatMap(HTTPDate.parse) != nil)
        await server.stop()
    }
}
