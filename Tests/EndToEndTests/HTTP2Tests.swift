import Foundation
import HTTP2TestClient
import Testing

/// HTTP/2 against the running binary with real clients: curl, nghttp, terraform, and a raw-frame
/// client for what they cannot do on purpose (read slowly, watch GOAWAY).
@Suite("HTTP/2 end to end", .serialized)
struct HTTP2Tests {
    @Test("curl --http2 negotiates h2 by ALPN on TLS; http/1.1 still works there; the log says which")
    func curlOverTLS() throws {
        let gateway = try HTTP2Gateway()
        let h2 = Tool.curl(["--http2", "--cacert", gateway.certificates.caCertificate, "-w", "\n%{http_version}", gateway.url("tls", "/hello.txt")])
        #expect(h2.status == 0, "\(h2.stderr)")
        #expect(h2.output == HTTP2Gateway.hello + "\n2")
        let h1 = Tool.curl(["--http1.1", "--cacert", gateway.certificates.caCertificate, "-w", "\n%{http_version}", gateway.url("tls", "/small.txt")])
        #expect(h1.output == HTTP2Gateway.small + "\n1.1")
        #expect(gateway.process.waitForLogLine { $0.contains("\"path\":\"/small.txt\"") })
        let hello = gateway.logLines(path: "/hello.txt").first
        #expect(hello?["protocol"] as? String == "HTTP/2")
        #expect(hello?["tls"] as? String == "TLSv1.3")
        #expect(gateway.logLines(path: "/small.txt").first?["protocol"] as? String == "HTTP/1.1")
        // A conditional GET: 304 carries no body and no length of its own (RFC 9110 §8.6).
        let head = Tool.curl(["--http2", "--cacert", gateway.certificates.caCertificate, "-I", gateway.url("tls", "/hello.txt")]).output
        let etag = try #require(head.split(separator: "\r\n").first { $0.hasPrefix("etag:") }?.dropFirst(5).trimmingCharacters(in: .whitespaces))
        let notModified = Tool.curl(["--http2", "--cacert", gateway.certificates.caCertificate, "-D", "-", "-o", "/dev/null",
                                     "-H", "If-None-Match: \(etag)", gateway.url("tls", "/hello.txt")]).output
        #expect(notModified.hasPrefix("HTTP/2 304"))
        #expect(!notModified.contains("content-length"))
    }

    @Test("curl --http2-prior-knowledge gets h2c where the listener's protocols allow it, and only there")
    func curlPriorKnowledge() throws {
        let gateway = try HTTP2Gateway()
        let h2c = Tool.curl(["--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", gateway.url("h2c", "/hello.txt")])
        #expect(h2c.output == HTTP2Gateway.hello + "\n2 200", "\(h2c.stderr)")
        let h1 = Tool.curl(["-w", "\n%{http_version}", gateway.url("h2c", "/hello.txt")])
        #expect(h1.output == HTTP2Gateway.hello + "\n1.1")
        let refused = Tool.curl(["--http2-prior-knowledge", "--max-time", "10", "-w", "%{http_version}", gateway.url("h1", "/hello.txt")])
        #expect(refused.status != 0 || !refused.output.hasSuffix("2"))
        #expect(gateway.process.waitForLogLine { $0.contains("\"protocol\":\"HTTP/2\"") })
    }

    @Test("nghttp fetches many streams at once on one connection, over TLS and h2c")
    func nghttpManyStreams() throws {
        let gateway = try HTTP2Gateway()
        for url in [gateway.url("tls", "/small.txt"), gateway.url("h2c", "/small.txt")] {
            let result = Tool.run("nghttp", ["-n", "-s", "-m", "100", url, url.replacingOccurrences(of: "small", with: "hello")])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.output.split(separator: "\n")
            #expect(lines.count { $0.contains(" 200 ") && $0.hasSuffix("/small.txt") } == 100)
            #expect(lines.count { $0.contains(" 200 ") && $0.hasSuffix("/hello.txt") } == 100)
        }
        #expect(gateway.process.waitForLogLine { _ in gateway.logLines(path: "/small.txt").count == 200 })
        #expect(gateway.logLines(path: "/small.txt").allSatisfy { $0["protocol"] as? String == "HTTP/2" && $0["status"] as? Int == 200 })
    }

    @Test("a 200 MiB response read slowly holds one window while other streams on the connection complete")
    func slowReaderDoesNotBlockOthers() throws {
        let size: Int64 = 200 << 20
        let gateway = try HTTP2Gateway(bigBytes: size)
        let client = try gateway.rawClient()
        client.autoWindowUpdate = false
        client.keepData = true
        // The connection window is opened wide; only the big stream's own window stays shut.
        client.send(.windowUpdate(stream: 0, increment: 1 << 30))
        client.request(stream: 1, path: "/big.bin")
        client.read { ($0.received[1] ?? 0) >= 65535 }
        for i in 0..<50 { client.request(stream: UInt32(3 + 2 * i), path: "/small.txt") }
        client.read { c in (0..<50).allSatisfy { c.ended.contains(UInt32(3 + 2 * $0)) } }
        let others = (0..<50).map { UInt32(3 + 2 * $0) }
        let served = others.filter { client.statuses[$0] == 200 && client.body($0) == HTTP2Gateway.small }
        #expect(served.count == others.count)
        #expect(client.received[1] == 65535)
        #expect(!client.ended.contains(1))
        #expect(gateway.residentBytes < 150 << 20, "the server buffered the body: RSS \(gateway.residentBytes)")
        // Now read the rest, a window's worth at a time.
        client.keepData = false
        client.autoWindowUpdate = true
        client.send(.windowUpdate(stream: 1, increment: 1 << 20))
        client.read(timeout: 120) { $0.ended.contains(1) }
        #expect(client.received[1] == Int(size))
        #expect(gateway.process.waitForLogLine { $0.contains("\"path\":\"/big.bin\"") && $0.contains("\"bytes\":\(size)") })
    }

    @Test("SIGTERM sends GOAWAY with the last stream id; the stream in flight finishes, then the process exits")
    func drainFinishesStreamsInFlight() throws {
        let size: Int64 = 8 << 20
        let gateway = try HTTP2Gateway(bigBytes: size)
        let client = try gateway.rawClient()
        client.autoWindowUpdate = false
        client.request(stream: 1, path: "/big.bin")
        client.read { ($0.received[1] ?? 0) >= 65535 }
        gateway.process.signal(SIGTERM)
        client.read { $0.goaway != nil }
        #expect(client.goaway?.errorCode == 0)
        #expect(client.goaway?.lastStreamID == 1)
        client.request(stream: 3, path: "/hello.txt")   // after GOAWAY: not processed
        client.autoWindowUpdate = true
        client.send([.windowUpdate(stream: 0, increment: 1 << 30), .windowUpdate(stream: 1, increment: 1 << 30)])
        client.read(timeout: 60) { $0.ended.contains(1) }
        #expect(client.received[1] == Int(size), "resets \(client.resets) closed \(client.isClosed) \(gateway.process.stderr)")
        #expect(client.statuses[3] == nil)
        #expect(client.readUntilClosed(timeout: 20))
        #expect(gateway.process.waitForExit(timeout: 20) == 0)
    }

    @Test("terraform init against the gateway speaks HTTP/2 (discovery, versions, download, archive)")
    func terraformInitOverHTTP2() throws {
        let stacks = #"""
            {"registry": {"chain": [{"type": "log"}, {"type": "router", "routes": [
               {"path": "/.well-known/terraform.json", "chain": [{"type": "respond", "json": {"modules.v1": "/v1/modules/"}}]},
               {"path": "/v1/modules/acme/vpc/aws/versions",
                "chain": [{"type": "respond", "json": {"modules": [{"versions": [{"version": "1.0.0"}]}]}}]},
               {"path": "/v1/modules/acme/vpc/aws/1.0.0/download",
                "chain": [{"type": "respond", "status": 204, "headers": {"X-Terraform-Get": "/archives/vpc.tar.gz"}}]},
               {"path": "/archives/*", "chain": [{"type": "files", "root": "www"}]}]}]}}
            """#
        let gateway = try HTTP2Gateway(stacks: stacks) { dir in
            dir.write("src/acme-vpc/main.tf", "output \"name\" { value = \"vpc\" }\n")
            try FileManager.default.createDirectory(atPath: dir.file("www/archives"), withIntermediateDirectories: true)
            let tar = Tool.run("tar", ["-czf", dir.file("www/archives/vpc.tar.gz"), "-C", dir.file("src/acme-vpc"), "main.tf"])
            #expect(tar.status == 0, "\(tar.stderr)")
        }
        let work = TemporaryDirectory("gateway-tf")
        let port = gateway.process.port("tls")
        work.write("main.tf", """
            module "vpc" {
              source  = "127.0.0.1:\(port)/acme/vpc/aws"
              version = "1.0.0"
            }
            output "name" { value = module.vpc.name }
            """)
        let cliConfig = work.write("terraformrc", "")
        let result = Tool.run("terraform", ["init", "-input=false", "-no-color"], environment: [
            "SSL_CERT_FILE": gateway.certificates.caCertificate, "TF_CLI_CONFIG_FILE": cliConfig, "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1", "HOME": work.path,
        ], directory: work.path, timeout: 180)
        #expect(result.status == 0, "\(result.output)\n\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: work.file(".terraform/modules/vpc/main.tf")))
        for path in ["/.well-known/terraform.json", "/v1/modules/acme/vpc/aws/versions", "/v1/modules/acme/vpc/aws/1.0.0/download", "/archives/vpc.tar.gz"] {
            let lines = gateway.logLines(path: path)
            #expect(!lines.isEmpty, "no request for \(path)")
            #expect(lines.allSatisfy { $0["protocol"] as? String == "HTTP/2" }, "\(path): \(lines)")
        }
    }
}
