import Foundation
import HTTP2TestClient
import Pipeline
import Testing

/// The gateway binary with the listeners the HTTP/2 suites use: `tls` (h2 and http/1.1 by ALPN),
/// `h2c` (plain, prior knowledge and HTTP/1.1), `h1` (plain, HTTP/1.1 only), all serving `www`
/// through `log` and `files`. `www` holds hello.txt, small.txt (200 bytes) and, on request, a
/// sparse big.bin.
struct HTTP2Gateway {
    let process: GatewayProcess
    let directory: TemporaryDirectory
    let certificates: DevCertificates.Files

    static let hello = "hello over h2\n"
    static let small = String(repeating: "s", count: 200)

    /// `h2cOptions` is spliced into the h2c listener object (e.g. `"http2": {...}`).
    init(bigBytes: Int64 = 0, h2cOptions: String = "", stacks: String? = nil, prepare: (TemporaryDirectory) throws -> Void = { _ in }) throws {
        let dir = TemporaryDirectory("gateway-h2")
        dir.write("www/hello.txt", Self.hello)
        dir.write("www/small.txt", Self.small)
        if bigBytes > 0 {
            let path = dir.write("www/big.bin", "")
            guard truncate(path, off_t(bigBytes)) == 0 else { throw POSIXError(.EIO) }
        }
        certificates = try DevCertificates.create(in: dir.path + "/certs", names: ["localhost", "127.0.0.1"])
        try prepare(dir)
        let extra = h2cOptions.isEmpty ? "" : ", " + h2cOptions
        let config = """
            {"version": 1,
             "listeners": [
               {"name": "tls", "listen": "127.0.0.1:0", "tls": {"certificate": "certs/gateway.pem", "key": "certs/gateway-key.pem"}},
               {"name": "h2c", "listen": "127.0.0.2:0", "protocols": ["h2", "http/1.1"]\(extra)},
               {"name": "h1", "listen": "127.0.0.3:0"}],
             "stacks": \(stacks ?? #"{"site": {"chain": [{"type": "log"}, {"type": "files", "root": "www"}]}}"#)}
            """
        process = try GatewayProcess(config: config, directory: dir)
        directory = dir
    }

    /// Each listener has its own loopback address (the loader treats two `127.0.0.1:0` as one address).
    static let hosts = ["tls": "127.0.0.1", "h2c": "127.0.0.2", "h1": "127.0.0.3"]

    func url(_ listener: String, _ path: String) -> String {
        listener == "tls" ? process.url("tls", path, scheme: "https", host: "localhost") : process.url(listener, path, host: Self.hosts[listener]!)
    }

    /// A raw-frame client on the h2c listener.
    func rawClient(initialWindow: UInt32? = nil) throws -> H2Client {
        try H2Client(port: process.port("h2c"), host: Self.hosts["h2c"]!, initialWindow: initialWindow)
    }

    /// Access-log lines whose path is `path`.
    func logLines(path: String) -> [[String: Any]] {
        process.accessLog.filter { $0["path"] as? String == path }
    }

    /// The gateway's resident memory in bytes (VmRSS).
    var residentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.process.pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return kib * 1024
    }
}
