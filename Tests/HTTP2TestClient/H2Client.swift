#if canImport(Glibc)
import Glibc
#endif

/// A raw HTTP/2 client over plain TCP (h2c with prior knowledge) that sends exactly the frames a
/// test asks for and reads what comes back, frame by frame. It exists to play the misbehaving
/// clients (floods, stalls, resets) that real clients never are.
public final class H2Client: @unchecked Sendable {
    public let fd: Int32
    private var inbox: [UInt8] = []
    private var inboxStart = 0
    /// Response header blocks by stream (HEADERS + CONTINUATION payloads, padding included as sent).
    public private(set) var statuses: [UInt32: Int] = [:]
    /// DATA bytes received per stream.
    public private(set) var received: [UInt32: Int] = [:]
    /// DATA payloads kept per stream when `keepData` is set.
    public private(set) var bodies: [UInt32: [UInt8]] = [:]
    /// Streams that ended (END_STREAM) and streams reset by the server, with the code.
    public private(set) var ended: Set<UInt32> = []
    public private(set) var resets: [UInt32: UInt32] = [:]
    public private(set) var goaway: H2Frame?
    public private(set) var isClosed = false
    public var keepData = false
    /// Every frame received, in order, when `keepFrames` is set (DATA payloads included).
    public private(set) var frames: [H2Frame] = []
    public var keepFrames = false
    /// Every `:status` per stream, interim ones included.
    public private(set) var statusHistory: [UInt32: [Int]] = [:]
    /// Send WINDOW_UPDATE for DATA as it arrives (stream and connection).
    public var autoWindowUpdate = true

    public static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Connects to `host`:`port`; with `handshake` it sends the preface and SETTINGS (header
    /// table size 0, push off, `initialWindow` if given).
    public init(port: Int, host: String = "127.0.0.1", handshake: Bool = true, initialWindow: UInt32? = nil) throws {
        // `self.fd` is set only once connected: a class whose init throws after every property is
        // set still runs deinit, which would close the descriptor a second time (maybe someone else's by then).
        guard let fd = Loopback.connect(port: port, host: host) else {
            throw H2ClientError("connect to port \(port) failed: errno \(errno)")
        }
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if handshake {
            var settings: [(UInt16, UInt32)] = [(0x1, 0), (0x2, 0)]
            if let initialWindow { settings.append((0x4, initialWindow)) }
            send(Self.preface)
            send(.settings(settings))
        }
    }

    private var released = false

    deinit { close() }

    /// Closes the socket (done by deinit too).
    public func close() {
        guard !released else { return }
        released = true
        isClosed = true
        Glibc.close(fd)
    }

    // MARK: Sending

    public func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 {
                if n < 0, errno == EINTR { continue }
                if n < 0, errno == EAGAIN {
                    _ = poll(timeout: 100)
                    continue
                }
                isClosed = true
                return
            }
            offset += n
        }
    }

    public func send(_ frame: H2Frame) { send(frame.bytes) }
    public func send(_ frames: [H2Frame]) { send(frames.flatMap(\.bytes)) }

    /// HEADERS for a request: `:method`, `:scheme` http, `:authority`, `:path`, then `headers`.
    public func request(stream: UInt32, method: String = "GET", path: String, authority: String = "localhost",
                        headers: [(String, String)] = [], endStream: Bool = true) {
        send(Self.requestFrame(stream: stream, method: method, path: path, authority: authority, headers: headers, endStream: endStream))
    }

    public static func requestFrame(stream: UInt32, method: String = "GET", path: String, authority: String = "localhost",
                                    headers: [(String, String)] = [], endStream: Bool = true) -> H2Frame {
        let block = HPACKLite.encode([(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)] + headers)
        return H2Frame(.headers, flags: H2Frame.endHeaders | (endStream ? H2Frame.endStream : 0), stream: stream, payload: block)
    }

    // MARK: Receiving

    /// Waits up to `timeout` seconds for the socket to be readable.
    private func poll(timeout: Double) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&poller, 1, Int32(timeout * 1000)) > 0
    }

    /// The next frame, or nil when the server closed or nothing came within `timeout` seconds.
    /// Frames are also recorded (statuses, bytes, resets, GOAWAY) and acknowledged as needed.
    public func readFrame(timeout: Double = 5) -> H2Frame? {
        let deadline = Self.now + timeout
        while true {
            if let frame = parseFrame() {
                record(frame)
                return frame
            }
            if isClosed { return nil }
            let left = deadline - Self.now
            guard left > 0, poll(timeout: left) else { return nil }
            var chunk = [UInt8](repeating: 0, count: 256 * 1024)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 {
                if n < 0, errno == EINTR { continue }
                isClosed = true
                continue
            }
            if inboxStart > 0, inboxStart == inbox.count {
                inbox.removeAll(keepingCapacity: true)
                inboxStart = 0
            }
            inbox += chunk[0..<n]
        }
    }

    /// Reads frames until `done` is true, the server closes, or `timeout` seconds pass.
    @discardableResult
    public func read(timeout: Double = 10, until done: (H2Client) -> Bool) -> Bool {
        let deadline = Self.now + timeout
        while !done(self) {
            let left = deadline - Self.now
            if left <= 0 || readFrame(timeout: left) == nil && (isClosed || Self.now >= deadline) { return done(self) }
        }
        return true
    }

    /// Reads until the server closes the connection; true if it did within `timeout` seconds.
    public func readUntilClosed(timeout: Double = 10) -> Bool {
        read(timeout: timeout) { $0.isClosed }
    }

    private func parseFrame() -> H2Frame? {
        let available = inbox.count - inboxStart
        guard available >= 9 else { return nil }
        let length = Int(inbox[inboxStart]) << 16 | Int(inbox[inboxStart + 1]) << 8 | Int(inbox[inboxStart + 2])
        guard available >= 9 + length else { return nil }
        let header = inboxStart
        let stream = H2Frame.read32(inbox, at: header + 5) & 0x7FFF_FFFF
        let frame = H2Frame(type: inbox[header + 3], flags: inbox[header + 4], stream: stream,
                            payload: Array(inbox[(header + 9)..<(header + 9 + length)]))
        inboxStart += 9 + length
        return frame
    }

    private var pendingBlock: [UInt8] = []

    private func record(_ frame: H2Frame) {
        if keepFrames { frames.append(frame) }
        switch frame.kind {
        case .headers, .continuation:
            var payload = frame.payload
            if frame.kind == .headers {
                var start = 0
                var padding = 0
                if frame.flags & 0x8 != 0 { padding = Int(payload[0]); start = 1 }
                if frame.flags & 0x20 != 0 { start += 5 }
                payload = Array(payload[start..<(payload.count - padding)])
                pendingBlock = []
            }
            pendingBlock += payload
            if frame.flags & H2Frame.endHeaders != 0, let status = HPACKLite.status(of: pendingBlock) {
                statusHistory[frame.streamID, default: []].append(status)
                if statuses[frame.streamID] == nil || statuses[frame.streamID]! < 200 { statuses[frame.streamID] = status }
            }
            if frame.flags & H2Frame.endStream != 0 { ended.insert(frame.streamID) }
        case .data:
            received[frame.streamID, default: 0] += frame.payload.count
            if keepData { bodies[frame.streamID, default: []] += frame.payload }
            if frame.flags & H2Frame.endStream != 0 { ended.insert(frame.streamID) }
            if autoWindowUpdate, !frame.payload.isEmpty {
                send([.windowUpdate(stream: 0, increment: UInt32(frame.payload.count)),
                      .windowUpdate(stream: frame.streamID, increment: UInt32(frame.payload.count))])
            }
        case .rstStream:
            resets[frame.streamID] = frame.errorCode
        case .goaway:
            goaway = frame
        case .settings where frame.flags & H2Frame.ack == 0:
            send(H2Frame(.settings, flags: H2Frame.ack))
        case .ping where frame.flags & H2Frame.ack == 0:
            send(H2Frame(.ping, flags: H2Frame.ack, payload: frame.payload))
        default:
            break
        }
    }

    public func body(_ stream: UInt32) -> String { String(decoding: bodies[stream] ?? [], as: UTF8.self) }

    static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

public struct H2ClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
