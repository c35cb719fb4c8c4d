import Foundation
import HTTP2TestClient
import Testing

/// Debian's Chromium, headless, as a person's browser: `--dump-dom` for the DOM after scripts ran
/// (with the console's messages from its log), `--screenshot` for pictures, and `DevToolsPage` for
/// key presses. TLS errors are ignored (the tests' certificates are their own).
enum Browser {
    static let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--ignore-certificate-errors",
                        "--no-first-run", "--disable-extensions", "--disable-background-networking"]

    struct Page {
        let dom: String
        /// What the page wrote to the console, and uncaught errors (`INFO:CONSOLE` lines of Chromium's log).
        let console: [String]
    }

    /// The DOM of `url` after its scripts ran.
    static func load(_ url: String, sourceLocation: SourceLocation = #_sourceLocation) -> Page {
        let profile = TemporaryDirectory("chromium")
        let result = Tool.run("chromium", flags + ["--user-data-dir=\(profile.path)", "--enable-logging=stderr", "--v=0",
                                                   "--virtual-time-budget=2000", "--dump-dom", url],
                              timeout: 120, sourceLocation: sourceLocation)
        #expect(result.status == 0, "chromium --dump-dom \(url): \(result.stderr)", sourceLocation: sourceLocation)
        let console = result.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return Page(dom: result.output, console: console)
    }

    /// A PNG of `url` at `width`×`height` CSS pixels written to `path`; its size in bytes.
    @discardableResult
    static func screenshot(_ url: String, width: Int, height: Int, to path: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        let profile = TemporaryDirectory("chromium")
        try? FileManager.default.removeItem(atPath: path)
        let result = Tool.run("chromium", flags + ["--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)",
                                                   "--virtual-time-budget=2000", "--screenshot=\(path)", url],
                              timeout: 120, sourceLocation: sourceLocation)
        #expect(result.status == 0, "chromium --screenshot \(url): \(result.stderr)", sourceLocation: sourceLocation)
        return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    /// Where tests leave pictures for a person to look at: `.build/test-artifacts/<name>`.
    static func artifacts(_ name: String) -> String {
        let path = Paths.root + "/.build/test-artifacts/" + name
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// One Chromium tab driven over the DevTools protocol (a websocket on loopback): key presses as
/// a keyboard sends them, and JavaScript evaluated in the page to see where focus is.
final class DevToolsPage: @unchecked Sendable {
    let process: Subprocess
    let profile = TemporaryDirectory("chromium")
    private var connection: RawConnection!
    private var nextID = 1
    private var pending = Data()

    init(url: String, width: Int = 1280, height: Int = 900) throws {
        guard let chromium = Tool.require("chromium") else { throw ToolMissing(name: "chromium") }
        process = try Subprocess(chromium, Browser.flags + ["--user-data-dir=\(profile.path)", "--remote-debugging-port=0",
                                                            "--window-size=\(width),\(height)", url])
        // Chromium writes the port it chose into the profile once it listens.
        let portFile = profile.file("DevToolsActivePort")
        let deadline = Date().addingTimeInterval(60)
        var port = 0
        while Date() < deadline, port == 0 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let first = text.split(separator: "\n").first {
                port = Int(first) ?? 0
            }
            if port == 0 { usleep(50_000) }
        }
        guard port > 0 else { throw DevToolsError("chromium did not open its DevTools port: \(String(decoding: process.output.err, as: UTF8.self))") }
        // The page target's websocket, from the DevTools HTTP endpoint.
        var target: String?
        while Date() < deadline, target == nil {
            let list = Tool.curl(["http://127.0.0.1:\(port)/json/list"])
            if let targets = try? JSONSerialization.jsonObject(with: list.stdout) as? [[String: Any]] {
                target = targets.first { ($0["type"] as? String) == "page" }?["webSocketDebuggerUrl"] as? String
            }
            if target == nil { usleep(100_000) }
        }
        guard let target, let start = target.range(of: "/devtools/") else {
            throw DevToolsError("no page target")
        }
        let path = String(target[start.lowerBound...])
        connection = try RawConnection(port: port)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n")
        var head = Data()
        while !head.contains("\r\n\r\n".data(using: .utf8)!) {
            let chunk = receive(timeout: 10)
            guard !chunk.isEmpty else { throw DevToolsError("websocket handshake failed: \(String(decoding: head, as: UTF8.self))") }
            head.append(chunk)
        }
        let end = head.range(of: "\r\n\r\n".data(using: .utf8)!)!
        guard String(decoding: head[..<end.lowerBound], as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw DevToolsError("websocket refused: \(String(decoding: head, as: UTF8.self))")
        }
        pending = Data(head[end.upperBound...])
        _ = try call("Page.enable")
        _ = try call("Runtime.enable")
    }

    deinit {
        process.terminate()
        if !process.waitUntilExit(timeout: 20) {
            process.signal(SIGKILL)
            _ = process.waitUntilExit(timeout: 20)
        }
    }

    // MARK: What a test does

    /// Evaluates `expression` in the page; its value (by value: strings, numbers, booleans, arrays).
    func evaluate(_ expression: String) throws -> Any? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Presses and releases a key as a keyboard does (`Tab`, `Enter`), with Shift when asked.
    func press(_ key: String, shift: Bool = false) throws {
        let codes = ["Tab": 9, "Enter": 13, "Escape": 27, "Space": 32]
        var down: [String: Any] = ["type": "keyDown", "key": key, "code": key, "windowsVirtualKeyCode": codes[key] ?? 0,
                                   "modifiers": shift ? 8 : 0]
        if key == "Enter" { down["text"] = "\r" }
        _ = try call("Input.dispatchKeyEvent", down)
        _ = try call("Input.dispatchKeyEvent", ["type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": codes[key] ?? 0,
                                                "modifiers": shift ? 8 : 0])
    }

    /// Types `text` into the focused field.
    func type(_ text: String) throws { _ = try call("Input.insertText", ["text": text]) }

    /// A short description of the focused element: tag, then its text or value.
    func focused() throws -> String {
        try evaluate("""
            (function () { var e = document.activeElement; if (!e) { return ""; }
              return e.tagName.toLowerCase() + " " + (e.id ? "#" + e.id + " " : "") + (e.value !== undefined && e.tagName === "INPUT" ? e.value : e.textContent.trim()); })()
            """) as? String ?? ""
    }

    /// Waits until the page at a URL containing `fragment` has loaded.
    func waitForLocation(containing fragment: String, timeout: TimeInterval = 30) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = (try? evaluate("location.href + ' ' + document.readyState") as? String) ?? ""
            if last.contains(fragment), last.hasSuffix(" complete") { return String(last.dropLast(" complete".count)) }
            usleep(100_000)
        }
        throw DevToolsError("page never reached \(fragment); last \(last)")
    }

    // MARK: The protocol

    /// Sends a command and waits for its answer (events in between are skipped).
    func call(_ method: String, _ params: [String: Any] = [:]) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        let message = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        sendFrame(message)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard let text = try readMessage(deadline: deadline),
                  let object = try? JSONSerialization.jsonObject(with: text) as? [String: Any] else { continue }
            guard object["id"] as? Int == id else { continue }
            if let error = object["error"] { throw DevToolsError("\(method): \(error)") }
            return object["result"] as? [String: Any] ?? [:]
        }
        throw DevToolsError("\(method): no answer")
    }

    /// A masked text frame (RFC 6455 §5.2: clients mask every frame).
    private func sendFrame(_ payload: Data) {
        var frame = Data([0x81])
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame.append(0x80 | 126)
            frame.append(contentsOf: [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)])
        } else {
            frame.append(0x80 | 127)
            frame.append(contentsOf: (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) })
        }
        frame.append(contentsOf: mask)
        frame.append(contentsOf: payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        connection.send(frame)
    }

    /// The next whole text message (continuation frames joined); nil for control frames.
    private func readMessage(deadline: Date) throws -> Data? {
        var message = Data()
        while true {
            let (fin, opcode, payload) = try readFrame(deadline: deadline)
            if opcode == 0x8 { throw DevToolsError("chromium closed the websocket") }
            if opcode == 0x9 || opcode == 0xA { return nil }
            message.append(payload)
            if fin { return message }
        }
    }

    private func readFrame(deadline: Date) throws -> (fin: Bool, opcode: UInt8, payload: Data) {
        try fill(2, deadline: deadline)
        let bytes = [UInt8](pending.prefix(2))
        var length = Int(bytes[1] & 0x7f)
        var offset = 2
        if length == 126 {
            try fill(4, deadline: deadline)
            length = Int(pending[pending.startIndex + 2]) << 8 | Int(pending[pending.startIndex + 3])
            offset = 4
        } else if length == 127 {
            try fill(10, deadline: deadline)
            length = (2..<10).reduce(0) { $0 << 8 | Int(pending[pending.startIndex + $1]) }
            offset = 10
        }
        try fill(offset + length, deadline: deadline)
        let payload = Data(pending[(pending.startIndex + offset)..<(pending.startIndex + offset + length)])
        pending = Data(pending.dropFirst(offset + length))
        return (bytes[0] & 0x80 != 0, bytes[0] & 0x0f, payload)
    }

    private func fill(_ count: Int, deadline: Date) throws {
        while pending.count < count {
            guard Date() < deadline else { throw DevToolsError("websocket read timed out") }
            pending.append(receive(timeout: 1))
        }
    }

    private func receive(timeout: TimeInterval) -> Data {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var poller = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return Data() }
        let n = recv(connection.fd, &buffer, buffer.count, 0)
        return n > 0 ? Data(buffer[0..<n]) : Data()
    }
}

struct DevToolsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
