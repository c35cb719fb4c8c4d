import Foundation
import HTTP2TestClient

/// A plain TCP client for framing tests: send exact bytes, read what comes back.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int, host: String = "127.0.0.1") throws {
        // `self.fd` is set only once connected: a class whose init throws after every property is
        // set still runs deinit, which would close the descriptor a second time (maybe someone else's by then).
        guard let fd = Loopback.connect(port: port, host: host) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    @discardableResult
    func send(_ text: String) -> Bool { send(Data(text.utf8)) }

    /// Sends all of `data` (blocking); false when the peer reset or closed first.
    @discardableResult
    func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Reads until the peer closes or `timeout` passes with nothing new.
    func readAll(timeout: TimeInterval = 5) -> Data {
        var result = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return result }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return result }
            result.append(contentsOf: buffer[0..<n])
        }
    }

    /// Reads until `count` responses' worth of `HTTP/1.1 ` status lines arrived or `timeout` passed.
    func read(untilContains text: String, occurrences: Int = 1, timeout: TimeInterval = 5) -> String {
        var result = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if String(decoding: result, as: UTF8.self).components(separatedBy: text).count - 1 >= occurrences { break }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            result.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Whether the peer has closed the connection (a read returns 0 or an error) within `timeout`.
    func isClosedByPeer(within timeout: TimeInterval) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return true }
        }
        return false
    }
}
