import HTTP2TestClient
import Testing
@testable import Pipeline

/// HPACK bombs (issue 16, item 1): what a client makes the server decode for nothing is a
/// per-connection budget, and past it the connection ends with GOAWAY ENHANCE_YOUR_CALM.
@Suite("HTTP/2 header decoding budget", .serialized)
struct HPACKBudgetTests {
    static let calm: UInt32 = 0xb

    /// A HEADERS block that puts one 4000-byte field into the server's dynamic table (when
    /// `index`), then refers to it `references` times with one byte each.
    static func bomb(stream: UInt32, references: Int, index: Bool) -> H2Frame {
        var block = HPACKLite.encode([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/")])
        if index {
            let name = Array("x-bomb".utf8), value = [UInt8](repeating: 0x61, count: 4000)
            block += [0x40] + HPACKLite.integer(name.count, prefixBits: 7, flags: 0) + name + HPACKLite.integer(value.count, prefixBits: 7, flags: 0) + value
        }
        block += [UInt8](repeating: 0xBE, count: references)   // indexed field 62: the newest dynamic entry
        return H2Frame(.headers, flags: H2Frame.endHeaders | H2Frame.endStream, stream: stream, payload: block)
    }

    @Test("one header list just over the limit gets 431 and the connection goes on")
    func oneOversizedList() async throws {
        let server = try InProcessServer { _, _ in .text("ok") }
        let client = try H2Client(port: server.port)
        // 17 fields of 4038 bytes as counted by RFC 9113: just over 64 KiB.
        client.send(Self.bomb(stream: 1, references: 16, index: true))
        client.read { $0.ended.contains(1) || $0.resets[1] != nil || $0.goaway != nil }
        #expect(client.statuses[1] == 431)
        client.request(stream: 3, path: "/")
        client.read { $0.ended.contains(3) || $0.goaway != nil }
        #expect(client.statuses[3] == 200)
        #expect(client.goaway == nil)
        client.close()
        await server.stop()
    }

    @Test("a stream of header lists over the limit ends in GOAWAY ENHANCE_YOUR_CALM, not 200 answers of 431")
    func sustainedOversizedLists() async throws {
        let server = try InProcessServer { _, _ in .text("ok") }
        let client = try H2Client(port: server.port)
        var frames = [Self.bomb(stream: 1, references: 16, index: true)]
        for i in 1..<200 { frames.append(Self.bomb(stream: UInt32(1 + 2 * i), references: 17, index: false)) }
        client.send(frames)
        #expect(client.read(timeout: 20) { $0.goaway != nil })
        #expect(client.goaway?.errorCode == Self.calm)
        #expect(client.statuses.count < 100)
        #expect(client.readUntilClosed())
        // Another client of the same loop is served.
        let other = try H2Client(port: server.port)
        other.request(stream: 1, path: "/")
        other.read { $0.ended.contains(1) }
        #expect(other.statuses[1] == 200)
        other.close()
        await server.stop()
    }

    @Test("one block that decodes to 40 MB is cut off mid-block with GOAWAY ENHANCE_YOUR_CALM")
    func bombBlock() async throws {
        let server = try InProcessServer { _, _ in .text("ok") }
        let client = try H2Client(port: server.port)
        client.send(Self.bomb(stream: 1, references: 10_000, index: true))
        #expect(client.read(timeout: 20) { $0.goaway != nil })
        #expect(client.goaway?.errorCode == Self.calm)
        #expect(client.statuses[1] == nil)
        #expect(client.readUntilClosed())
        await server.stop()
    }

    @Test("trailers are decoded on the same budget: a trailer bomb ends the connection")
    func trailerBomb() async throws {
        let server = try InProcessServer { request, _ in
            for try await _ in request.body {}
            return .text("ok")
        }
        let client = try H2Client(port: server.port)
        client.request(stream: 1, method: "POST", path: "/", endStream: false)
        client.send(H2Frame(.data, stream: 1, payload: Array("body".utf8)))
        let name = Array("x-bomb".utf8), value = [UInt8](repeating: 0x61, count: 4000)
        var block = [0x40] + HPACKLite.integer(name.count, prefixBits: 7, flags: 0) + name + HPACKLite.integer(value.count, prefixBits: 7, flags: 0) + value
        block += [UInt8](repeating: 0xBE, count: 10_000)
        client.send(H2Frame(.headers, flags: H2Frame.endHeaders | H2Frame.endStream, stream: 1, payload: block))
        #expect(client.read(timeout: 20) { $0.goaway != nil })
        #expect(client.goaway?.errorCode == Self.calm)
        await server.stop()
    }
}
