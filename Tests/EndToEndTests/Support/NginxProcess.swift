import Foundation
import Testing

/// A real nginx from a scratch prefix (`daemon off`), for upstreams and references. Its access log
/// uses the format `$request_method $request_uri $status auth=$http_authorization inm=$http_if_none_match`,
/// one line per request, so tests can count what reached it.
final class NginxProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    private(set) var process: Subprocess!
    /// The ports the `servers` text used for `{port0}`, `{port1}`, ...
    let ports: [Int]

    /// Starts nginx with `servers` (server blocks inside `http {}`) where `{port0}`, `{port1}`, ...
    /// are replaced by free loopback ports and `{root}` by the document root `directory/www`.
    init(servers: String, portCount: Int = 1, directory: TemporaryDirectory = TemporaryDirectory("nginx"),
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.directory = directory
        ports = (0..<portCount).map { _ in freePort() }
        guard let nginx = Tool.require("nginx", sourceLocation: sourceLocation) else { throw ToolMissing(name: "nginx") }
        var text = servers.replacing("{root}", with: directory.path + "/www")
        for (i, port) in ports.enumerated() { text = text.replacing("{port\(i)}", with: String(port)) }
        for folder in ["logs", "tmp", "www"] {
            try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true)
        }
        directory.write("nginx.conf", """
            user root;
            worker_processes 1;
            error_log logs/error.log;
            pid logs/nginx.pid;
            events { worker_connections 4096; }
            http {
              log_format t '$request_method $request_uri $status auth=$http_authorization inm=$http_if_none_match';
              access_log logs/access.log t;
              client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
              uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
              sendfile on; tcp_nodelay on; keepalive_requests 100000;
              default_type application/octet-stream;
            \(text)
            }
            """)
        process = try Subprocess(nginx, ["-p", directory.path, "-c", "nginx.conf", "-g", "daemon off;"], stdout: .discard, stderr: .discard)
        for port in ports where !waitForPort(port) {
            stop()
            throw NginxFailed(log: (try? String(contentsOfFile: directory.file("logs/error.log"), encoding: .utf8)) ?? "")
        }
    }

    deinit { stop() }

    func url(_ path: String, server: Int = 0, scheme: String = "http", host: String = "127.0.0.1") -> String {
        "\(scheme)://\(host):\(ports[server])\(path)"
    }

    /// Writes a file under the document root.
    @discardableResult
    func publish(_ relative: String, _ data: Data) -> String { directory.write("www/" + relative, data) }

    /// Access-log lines so far.
    var accessLog: [String] {
        ((try? String(contentsOfFile: directory.file("logs/access.log"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }

    /// Access-log lines for requests to `path` (the request URI with its query).
    func requests(to path: String) -> [String] {
        accessLog.filter { $0.split(separator: " ").dropFirst().first.map(String.init) == path }
    }

    func stop() {
        guard let process, process.isRunning else { return }
        // QUIT: graceful, and the master takes its workers with it.
        process.signal(SIGQUIT)
        if !process.waitUntilExit(timeout: 10) {
            process.signal(SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct NginxFailed: Error, CustomStringConvertible {
    let log: String
    var description: String { "nginx did not start:\n\(log)" }
}

struct ToolMissing: Error, CustomStringConvertible {
    let name: String
    var description: String { "\(name) is not installed" }
}

/// A loopback port nobody listens on right now (the kernel's pick for port 0).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until something accepts connections on `port`.
func waitForPort(_ port: Int, timeout: TimeInterval = 10) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? RawConnection(port: port)) != nil { return true }
        usleep(20_000)
    }
    return false
}
