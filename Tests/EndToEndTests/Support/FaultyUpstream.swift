import Foundation

/// A small HTTP/1.1 server in the test process that misbehaves on request: it resets a connection
/// midway through a body, stalls, or answers with an error, as `handler` decides per request.
/// It records every request it receives. Blocking sockets, one thread per connection.
final class FaultyUpstream: @unchecked Sendable {
    enum Action {
        /// A complete response framed by Content-Length.
        case respond(status: Int, headers: [(String, String)], body: Data)
        /// A complete chunked response.
        case chunked(status: Int, headers: [(String, String)], body: Data)
        /// Announces `body.count` bytes (Content-Length, or chunked), sends `after` of them, then resets (RST).
        case reset(headers: [(String, String)], body: Data, after: Int, chunked: Bool)
        /// Announces `body.count` bytes, sends `after` of them, then goes silent with the connection open.
        case stall(headers: [(String, String)], body: Data, after: Int)
        /// Reads the request and never answers.
        case stallBeforeHead
        /// Reads the request and closes the connection without a byte of answer.
        case closeWithoutAnswer
    }

    struct Received: Sendable {
        let method: String
        let target: String
        let headers: [String: String]
        let bodyLength: Int
        let bodyChecksum: UInt32
    }

    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var handler: @Sendable (Received) -> Action
    private var requests: [Received] = []
    private var open: [Int32] = []
    private var stopped = false

    init(_ handler: @escaping @Sendable (Received) -> Action) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 512) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let listener = self.listener
        Thread.detachNewThread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                guard track(fd) else { return }
                Thread.detachNewThread { [self] in serve(fd) }
            }
        }
    }

    deinit { stop() }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Replaces how requests are answered from now on.
    func answer(_ handler: @escaping @Sendable (Received) -> Action) { lock.withLock { self.handler = handler } }

    var received: [Received] { lock.withLock { requests } }

    func requests(to target: String) -> [Received] { received.filter { $0.target == target } }

    /// Closes the listener and every connection (stalled ones included). Once: deinit calls it
    /// again, and a second close(listener) would close whatever descriptor has its number by then.
    func stop() {
        let fds = lock.withLock { () -> [Int32]? in
            if stopped { return nil }
            stopped = true
            defer { open = [] }
            return open
        }
        guard let fds else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func track(_ fd: Int32) -> Bool {
        lock.withLock {
            if stopped { close(fd); return false }
            open.append(fd)
            return true
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            lock.withLock { open.removeAll { $0 == fd } }
            close(fd)
        }
        var buffer = Data()
        while let request = readRequest(fd, &buffer) {
            let action = lock.withLock { () -> Action in
                requests.append(request)
                return handler(request)
            }
            guard perform(action, on: fd) else { return }
        }
    }

    /// Performs `action`; false when the connection must end.
    private func perform(_ action: Action, on fd: Int32) -> Bool {
        func head(_ status: Int, _ headers: [(String, String)], framing: String) -> Data {
            var text = "HTTP/1.1 \(status) X\r\n"
            for (name, value) in headers { text += "\(name): \(value)\r\n" }
            return Data((text + framing + "\r\n").utf8)
        }
        switch action {
        case .respond(let status, let headers, let body):
            return send(fd, head(status, headers, framing: "Content-Length: \(body.count)\r\n") + body)
        case .chunked(let status, let headers, let body):
            return send(fd, head(status, headers, framing: "Transfer-Encoding: chunked\r\n") + Self.chunked(body) + Data("0\r\n\r\n".utf8))
        case .reset(let headers, let body, let after, let chunked):
            let framing = chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: \(body.count)\r\n"
            let part = body.prefix(after)
            _ = send(fd, head(200, headers, framing: framing) + (chunked ? Self.chunked(part) : part))
            usleep(100_000)
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            return false
        case .stall(let headers, let body, let after):
            _ = send(fd, head(200, headers, framing: "Content-Length: \(body.count)\r\n") + body.prefix(after))
            waitUntilClosed(fd)
            return false
        case .stallBeforeHead:
            waitUntilClosed(fd)
            return false
        case .closeWithoutAnswer:
            return false
        }
    }

    private static func chunked(_ body: Data) -> Data {
        var out = Data()
        var offset = 0
        while offset < body.count {
            let n = min(8192, body.count - offset)
            out += Data((String(n, radix: 16) + "\r\n").utf8) + body.subdata(in: offset..<(offset + n)) + Data("\r\n".utf8)
            offset += n
        }
        return out
    }

    private func waitUntilClosed(_ fd: Int32) {
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) > 0 {}
    }

    private func send(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    private func readRequest(_ fd: Int32, _ buffer: inout Data) -> Received? {
        let separator = Data("\r\n\r\n".utf8)
        while buffer.range(of: separator) == nil {
            guard fill(fd, &buffer) else { return nil }
        }
        let end = buffer.range(of: separator)!
        let text = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
        buffer = Data(buffer[end.upperBound...])
        var lines = text.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var length = 0
        var checksum: UInt32 = 0
        func consume(_ count: Int) -> Bool {
            var left = count
            while left > 0 {
                if buffer.isEmpty, !fill(fd, &buffer) { return false }
                let n = min(left, buffer.count)
                for byte in buffer.prefix(n) { checksum = checksum &* 31 &+ UInt32(byte) }
                buffer = Data(buffer.dropFirst(n))
                left -= n
                length += n
            }
            return true
        }
        if let declared = headers["content-length"].flatMap(Int.init) {
            guard consume(declared) else { return nil }
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                while buffer.range(of: Data("\r\n".utf8)) == nil { guard fill(fd, &buffer) else { return nil } }
                let lineEnd = buffer.range(of: Data("\r\n".utf8))!
                let size = Int(String(decoding: buffer[buffer.startIndex..<lineEnd.lowerBound], as: UTF8.self)
                    .split(separator: ";").first ?? "", radix: 16) ?? 0
                buffer = Data(buffer[lineEnd.upperBound...])
                if size == 0 {
                    while buffer.count < 2 { guard fill(fd, &buffer) else { return nil } }
                    buffer = Data(buffer.dropFirst(2))
                    break
                }
                guard consume(size) else { return nil }
                while buffer.count < 2 { guard fill(fd, &buffer) else { return nil } }
                buffer = Data(buffer.dropFirst(2))
            }
        }
        return Received(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, bodyLength: length,
                        bodyChecksum: checksum)
    }

    private func fill(_ fd: Int32, _ buffer: inout Data) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }
}

/// The checksum `FaultyUpstream` computes over request bodies.
func faultyChecksum(_ data: Data) -> UInt32 {
    data.reduce(UInt32(0)) { $0 &* 31 &+ UInt32($1) }
}

/// Deterministic test bytes.
func testBytes(_ count: Int, seed: UInt8 = 0) -> Data {
    Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed) &+ $0 / 251) })
}
