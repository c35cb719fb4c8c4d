import Glibc
import HTTP2TestClient
import Testing
@testable import Pipeline

/// Every listener limit answered the same way over HTTP/1.1 and HTTP/2 (issue 16, item 2): one
/// case per limit and protocol, each with a request just inside the limit that must pass.
@Suite("Listener limits on every protocol", .serialized)
struct ListenerLimitsTests {
    static let limits: HTTPLimits = {
        var limits = HTTPLimits()
        limits.maxURIBytes = 100
        limits.maxHeaderCount = 5
        limits.maxHeaderBytes = 2048
        return limits
    }()

    enum Limit: String, CaseIterable, Sendable {
        case maxURIBytes, maxHeaderCount, maxHeaderBytes

        /// A request past the limit, one just inside it, and the status past it. Host (or
        /// `:authority`) is one of the fields; the request line counts into the header bytes.
        var cases: (over: (String, [(String, String)]), inside: (String, [(String, String)]), status: Int) {
            switch self {
            case .maxURIBytes:
                (("/" + String(repeating: "u", count: 100), []), ("/" + String(repeating: "u", count: 99), []), 414)
            case .maxHeaderCount:
                (("/", (0..<5).map { ("x-n-\($0)", "v") }), ("/", (0..<4).map { ("x-n-\($0)", "v") }), 431)
            case .maxHeaderBytes:
                (("/", [("x-big", String(repeating: "b", count: 2100))]), ("/", [("x-big", String(repeating: "b", count: 1900))]), 431)
            }
        }
    }

    @Test("each listener limit gives the same status over HTTP/1.1 and HTTP/2, and a request inside it passes",
          arguments: ["http/1.1", "h2"], Limit.allCases)
    func limit(protocol name: String, limit: Limit) async throws {
        let forwarded = Box(0)
        let server = try InProcessServer(limits: Self.limits) { _, _ in
            forwarded.update { $0 += 1 }
            return .text("ok")
        }
        let (over, inside, status) = limit.cases
        #expect(try Self.status(name, port: server.port, path: over.0, headers: over.1) == status)
        #expect(forwarded.value == 0)
        #expect(try Self.status(name, port: server.port, path: inside.0, headers: inside.1) == 200)
        #expect(forwarded.value == 1)
        await server.stop()
    }

    @Test("requestHead: a head left unfinished gets 408 over HTTP/1.1 and a closed connection over HTTP/2",
          arguments: ["http/1.1", "h2"])
    func requestHeadTimeout(protocol name: String) async throws {
        var timeouts = Timeouts()
        timeouts.requestHead = .seconds(1)
        let server = try InProcessServer(timeouts: timeouts) { _, _ in .text("ok") }
        if name == "h2" {
            let client = try H2Client(port: server.port)
            // A header block without END_HEADERS: nothing but its CONTINUATION may follow.
            let block = HPACKLite.encode([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/")])
            client.send(H2Frame(.headers, flags: H2Frame.endStream, stream: 1, payload: block))
            #expect(client.read(timeout: 20) { $0.goaway != nil })
            #expect(client.readUntilClosed(timeout: 20))
            #expect(client.statuses[1] == nil)
            client.close()
        } else {
            guard let fd = Loopback.connect(port: server.port) else { throw H2ClientError("connect failed") }
            defer { close(fd) }
            let head = Array("GET / HTTP/1.1\r\nHost: local".utf8)
            _ = head.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #expect(Self.readStatus(fd, timeout: 20) == 408)
        }
        await server.stop()
    }

    /// The status a fresh connection gets for GET `path` with `headers` over `name`.
    static func status(_ name: String, port: Int, path: String, headers: [(String, String)]) throws -> Int? {
        if name == "h2" {
            let client = try H2Client(port: port)
            defer { client.close() }
            client.request(stream: 1, path: path, headers: headers)
            client.read { $0.ended.contains(1) || $0.resets[1] != nil || $0.goaway != nil }
            return client.statuses[1]
        }
        guard let fd = Loopback.connect(port: port) else { throw H2ClientError("connect failed") }
        defer { close(fd) }
        let head = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        let bytes = Array(head.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return nil }
        return readStatus(fd, timeout: 10)
    }

    /// The status of the response line that arrives on `fd` within `timeout` seconds.
    static func readStatus(_ fd: Int32, timeout: Int) -> Int? {
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !reply.contains(0x0A) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return nil }
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { break }
            reply += chunk[0..<n]
        }
        // "HTTP/1.1 414 ..."
        let line = String(decoding: reply.prefix { $0 != 0x0D }, as: UTF8.self).split(separator: " ")
        return line.count > 1 ? Int(line[1]) : nil
    }
}
