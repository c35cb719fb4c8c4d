import HTTP2TestClient
import Testing
@testable import Pipeline

/// The HTTP/2 codec against a raw-frame client, with handlers written for each case.
@Suite("HTTP/2 connection", .serialized)
struct HTTP2ConnectionTests {
    @Test("an upload's window opens only as the handler consumes the body")
    func uploadWindowFollowsConsumption() async throws {
        var settings = HTTP2Settings()
        settings.initialWindowBytes = 16384
        let gate = Gate()
        let server = try InProcessServer(http2: settings) { request, _ in
            await gate.wait()
            var total = 0
            for try await chunk in request.body { total += chunk.count }
            return .text("\(total)")
        }
        let client = try H2Client(port: server.port)
        client.keepData = true
        client.keepFrames = true
        client.request(stream: 1, method: "POST", path: "/upload", endStream: false)
        client.send(H2Frame(.data, stream: 1, payload: [UInt8](repeating: 1, count: 16384)))
        // While the handler is parked the whole window stays spent: nothing is granted for stream 1.
        client.read(timeout: 0.5) { _ in false }
        #expect(!client.frames.contains { $0.kind == .windowUpdate && $0.streamID == 1 })
        gate.open()
        client.read { $0.frames.contains { $0.kind == .windowUpdate && $0.streamID == 1 } }
        let granted = client.frames.filter { $0.kind == .windowUpdate && $0.streamID == 1 }.map { H2Frame.read32($0.payload, at: 0) }.reduce(0, +)
        #expect(granted > 0 && granted <= 16384)
        client.send(H2Frame(.data, flags: H2Frame.endStream, stream: 1, payload: [UInt8](repeating: 2, count: 1000)))
        client.read { $0.ended.contains(1) }
        #expect(client.statuses[1] == 200)
        #expect(client.body(1) == "17384")
        client.close()
        await server.stop()
    }

    @Test("a body that fails midway resets the stream with INTERNAL_ERROR, never a clean end")
    func abortedBodyResets() async throws {
        let server = try InProcessServer { _, _ in
            Response(body: ResponseBody(length: 1_000_000) { writer in
                try await writer.write([UInt8](repeating: 65, count: 100_000))
                throw HTTPError(.badGateway, "upstream died")
            })
        }
        let client = try H2Client(port: server.port)
        client.request(stream: 1, path: "/")
        client.read { $0.resets[1] != nil || $0.ended.contains(1) }
        #expect(client.statuses[1] == 200)
        #expect(client.resets[1] == 2)
        #expect(!client.ended.contains(1))
        client.close()
        await server.stop()
    }

    @Test("a body that fails before its first byte becomes an honest error response")
    func failureBeforeFirstByte() async throws {
        let server = try InProcessServer { _, _ in
            Response(body: ResponseBody { _ in throw HTTPError(.badGateway, "upstream refused") })
        }
        let client = try H2Client(port: server.port)
        client.keepData = true
        client.request(stream: 1, path: "/")
        client.read { $0.ended.contains(1) || $0.resets[1] != nil }
        #expect(client.statuses[1] == 502)
        #expect(client.body(1) == "upstream refused\n")
        client.close()
        await server.stop()
    }

    @Test("trailers a streamed body provides end the stream on a HEADERS frame after the DATA")
    func trailers() async throws {
        let server = try InProcessServer { _, _ in
            Response(headers: ["Content-Type": "text/plain"], body: ResponseBody { writer in
                try await writer.write(Array("hello".utf8))
                try await writer.writeTrailers(["X-Checksum": "abc"])
            })
        }
        let client = try H2Client(port: server.port)
        client.keepFrames = true
        client.keepData = true
        client.request(stream: 1, path: "/")
        client.read { $0.ended.contains(1) }
        let onStream = client.frames.filter { $0.streamID == 1 }
        #expect(onStream.map(\.kind) == [.headers, .data, .headers])
        #expect(onStream.map { $0.flags & H2Frame.endStream } == [0, 0, H2Frame.endStream])
        #expect(client.body(1) == "hello")
        let trailerBlock = onStream.last?.payload ?? []
        #expect(!trailerBlock.isEmpty)
        client.close()
        await server.stop()
    }

    @Test("RST_STREAM from the client cancels the stream's task and completes it as aborted")
    func resetCancelsTask() async throws {
        let started = Box(false), cancelled = Box(false)
        let completion = Box<Completion?>(nil)
        let server = try InProcessServer { request, context in
            guard request.path == "/slow" else { return .text("quick") }
            context.onComplete { done in completion.update { $0 = done } }
            started.update { $0 = true }
            do { try await Task.sleep(for: .seconds(60)) } catch { cancelled.update { $0 = true } }
            return .text("late")
        }
        let client = try H2Client(port: server.port)
        client.request(stream: 1, path: "/slow")
        #expect(await eventually { started.value })
        client.send(.rst(stream: 1, code: 8))
        #expect(await eventually { cancelled.value })
        #expect(await eventually { completion.value?.aborted == true })
        // The connection goes on serving.
        client.request(stream: 3, path: "/")
        client.read { $0.ended.contains(3) }
        #expect(client.statuses[3] == 200)
        client.close()
        await server.stop()
    }

    @Test("a slow reader makes a streamed body wait: the producer runs at most a window and a watermark ahead")
    func slowReaderBoundsBuffering() async throws {
        let produced = Box(0)
        let total = 32 << 20
        let server = try InProcessServer { _, _ in
            Response(body: ResponseBody(length: total) { writer in
                let chunk = [UInt8](repeating: 7, count: 64 * 1024)
                for _ in 0..<(total / chunk.count) {
                    try await writer.write(chunk)
                    produced.update { $0 += chunk.count }
                }
            })
        }
        let client = try H2Client(port: server.port)
        client.autoWindowUpdate = false
        client.request(stream: 1, path: "/big")
        client.read(timeout: 5) { ($0.received[1] ?? 0) >= 65535 }
        try await Task.sleep(for: .milliseconds(300))
        client.read(timeout: 0.2) { _ in false }
        #expect(client.received[1] == 65535)
        #expect(produced.value <= 65535 + HTTP2ResponseWriter.highWatermark + 64 * 1024)
        client.autoWindowUpdate = true
        client.send([.windowUpdate(stream: 0, increment: 1 << 30), .windowUpdate(stream: 1, increment: 1 << 30)])
        client.read(timeout: 60) { $0.ended.contains(1) }
        #expect(client.received[1] == total)
        #expect(produced.value == total)
        client.close()
        await server.stop()
    }

    @Test("drain sends GOAWAY with the last stream id and lets the stream in flight finish")
    func drainLetsStreamsFinish() async throws {
        let gate = Gate(), started = Box(false)
        let server = try InProcessServer { _, _ in
            started.update { $0 = true }
            await gate.wait()
            return .text("done")
        }
        let client = try H2Client(port: server.port)
        client.keepData = true
        client.request(stream: 1, path: "/")
        #expect(await eventually { started.value })
        let draining = Task { await server.stop() }
        client.read { $0.goaway != nil }
        #expect(client.goaway?.errorCode == 0)
        #expect(client.goaway?.lastStreamID == 1)
        gate.open()
        client.read { $0.ended.contains(1) }
        #expect(client.statuses[1] == 200)
        #expect(client.body(1) == "done")
        #expect(client.readUntilClosed())
        await draining.value
        #expect(server.server.openConnections == 0)
    }

    @Test("handlers still running after a reset count against max concurrent streams")
    func resetStreamsStillCount() async throws {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 2
        let gate = Gate(), started = Box(0)
        let server = try InProcessServer(http2: settings) { _, _ in
            started.update { $0 += 1 }
            await gate.wait()   // ignores cancellation, like a handler stuck in non-cancellable work
            return .text("ok")
        }
        let client = try H2Client(port: server.port)
        client.request(stream: 1, path: "/")
        client.request(stream: 3, path: "/")
        #expect(await eventually { started.value == 2 })
        client.send([.rst(stream: 1), .rst(stream: 3)])
        client.request(stream: 5, path: "/")
        client.read { $0.resets[5] != nil || $0.ended.contains(5) }
        #expect(client.resets[5] == 7)   // REFUSED_STREAM: safe for the client to retry
        gate.open()
        #expect(await eventually { started.value == 2 })
        try await Task.sleep(for: .milliseconds(100))
        client.request(stream: 7, path: "/")
        client.read { $0.ended.contains(7) }
        #expect(client.statuses[7] == 200)
        client.close()
        await server.stop()
    }

    @Test("100 Continue goes out when the handler first reads the body")
    func continueOnFirstRead() async throws {
        let server = try InProcessServer { request, _ in
            let body = try await request.body.collect(upTo: 1024)
            return .text(String(decoding: body, as: UTF8.self))
        }
        let client = try H2Client(port: server.port)
        client.keepData = true
        client.request(stream: 1, method: "PUT", path: "/", headers: [("expect", "100-continue")], endStream: false)
        client.read { $0.statusHistory[1] != nil }
        #expect(client.statusHistory[1] == [100])
        client.send(H2Frame(.data, flags: H2Frame.endStream, stream: 1, payload: Array("payload".utf8)))
        client.read { $0.ended.contains(1) }
        #expect(client.statusHistory[1] == [100, 200])
        #expect(client.body(1) == "payload")
        client.close()
        await server.stop()
    }
}
