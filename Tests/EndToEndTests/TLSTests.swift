import Foundation
import Testing

/// Makes a dev certificate with the real binary: `gateway cert --dev --dir DIR --name ... --out NAME`.
@discardableResult
func makeCertificate(in dir: String, names: [String], out: String, force: Bool = false,
                     sourceLocation: SourceLocation = #_sourceLocation) -> Tool.Result {
    let result = Tool.run(Paths.gateway, ["cert", "--dev", "--dir", dir, "--out", out] + names.flatMap { ["--name", $0] } + (force ? ["--force"] : []),
                          sourceLocation: sourceLocation)
    #expect(result.status == 0, "cert --dev failed: \(result.stderr)", sourceLocation: sourceLocation)
    return result
}

/// A TLS listener `tls` (certificates from `certificates` JSON) serving www/ through `files`.
func tlsSite(certificates: String, extra: String = "") -> (TemporaryDirectory, String) {
    let dir = TemporaryDirectory()
    dir.write("www/hello.txt", "hello\n")
    let config = """
        {"version": 1, "listeners": [{"name": "tls", "listen": "127.0.0.1:0", "tls": \(certificates)\(extra)}],
         "stacks": {"site": {"chain": [{"type": "files", "root": "www"}]}}}
        """
    return (dir, config)
}

/// The subject line curl -v prints for the server certificate.
func subject(_ curlStderr: String) -> String? {
    curlStderr.components(separatedBy: "\n").first { $0.contains("subject:") }?.components(separatedBy: "subject:").last?
        .trimmingCharacters(in: .whitespaces)
}

@Suite("TLS termination (real binary, curl and openssl)")
struct TLSTests {
    @Test("curl over TLS 1.3 with the dev CA; ALPN settles on http/1.1 when the listener speaks only that")
    func curlOverTLS() throws {
        let (dir, config) = tlsSite(certificates: #"{"certificate": "certs/site.pem", "key": "certs/site-key.pem"}"#,
                                    extra: #", "protocols": ["http/1.1"]"#)
        makeCertificate(in: dir.file("certs"), names: ["localhost", "127.0.0.1"], out: "site")
        let gateway = try GatewayProcess(config: config, directory: dir)
        let result = Tool.curl(["-v", "--cacert", dir.file("certs/ca.pem"), gateway.url("tls", "/hello.txt", scheme: "https", host: "localhost")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.output == "hello\n")
        #expect(result.stderr.contains("ALPN: offers h2,http/1.1"))
        #expect(result.stderr.contains("ALPN: server accepted http/1.1"))
        #expect(result.stderr.contains("SSL connection using TLSv1.3"))
        #expect(subject(result.stderr) == "O=gateway development; CN=localhost")
        // The IP address is in the certificate too.
        #expect(Tool.curl(["--cacert", dir.file("certs/ca.pem"), gateway.url("tls", "/hello.txt", scheme: "https")]).output == "hello\n")
    }

    @Test("TLS 1.2 with a forward-secret AEAD suite; TLS 1.1 and CBC suites are refused")
    func versionsAndCiphers() throws {
        let (dir, config) = tlsSite(certificates: #"{"certificate": "certs/site.pem", "key": "certs/site-key.pem"}"#)
        makeCertificate(in: dir.file("certs"), names: ["localhost"], out: "site")
        let gateway = try GatewayProcess(config: config, directory: dir)
        let url = gateway.url("tls", "/hello.txt", scheme: "https", host: "localhost")
        let tls12 = Tool.curl(["-v", "--tlsv1.2", "--tls-max", "1.2", "--cacert", dir.file("certs/ca.pem"), url])
        #expect(tls12.output == "hello\n")
        #expect(tls12.stderr.contains("SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256"), "\(tls12.stderr)")
        let cbc = Tool.curl(["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-SHA", "--cacert", dir.file("certs/ca.pem"), url])
        #expect(cbc.status != 0)
        // The client is allowed the old protocol (security level 0); the server must still say no.
        let tls11 = Tool.run("openssl", ["s_client", "-connect", "127.0.0.1:\(gateway.port("tls"))", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                             input: Data())
        #expect((tls11.output + tls11.stderr).contains("alert protocol version"), "\(tls11.stderr)")
        #expect(tls11.output.contains("Cipher is (NONE)"))
    }

    @Test("ALPN: a client offering only protocols the listener does not speak is refused")
    func alpnMismatch() throws {
        let (dir, config) = tlsSite(certificates: #"{"certificate": "certs/site.pem", "key": "certs/site-key.pem"}"#)
        makeCertificate(in: dir.file("certs"), names: ["localhost"], out: "site")
        let gateway = try GatewayProcess(config: config, directory: dir)
        let refused = Tool.run("openssl", ["s_client", "-connect", "127.0.0.1:\(gateway.port("tls"))", "-alpn", "spdy/3", "-servername", "localhost"],
                               input: Data())
        #expect(refused.status != 0)
        #expect((refused.output + refused.stderr).contains("no application protocol"))
        let plain = Tool.run("openssl", ["s_client", "-connect", "127.0.0.1:\(gateway.port("tls"))", "-servername", "localhost"], input: Data())
        #expect(plain.status == 0, "a client without ALPN still gets HTTP/1.1: \(plain.stderr)")
    }

    @Test("SNI picks the certificate that names the host; unknown names get the first")
    func sni() throws {
        let (dir, config) = tlsSite(certificates: #"""
            {"certificates": [{"certificate": "certs/a.pem", "key": "certs/a-key.pem"},
                              {"certificate": "certs/b.pem", "key": "certs/b-key.pem"}]}
            """#)
        makeCertificate(in: dir.file("certs"), names: ["a.test"], out: "a")
        makeCertificate(in: dir.file("certs"), names: ["b.test", "*.b.test"], out: "b")
        let gateway = try GatewayProcess(config: config, directory: dir)
        let port = gateway.port("tls")
        for (host, expected) in [("a.test", "CN=a.test"), ("b.test", "CN=b.test"), ("www.b.test", "CN=b.test")] {
            let result = Tool.curl(["-v", "--resolve", "\(host):\(port):127.0.0.1", "--cacert", dir.file("certs/ca.pem"),
                                    "https://\(host):\(port)/hello.txt"])
            #expect(result.status == 0, "\(host): \(result.stderr)")
            #expect(result.output == "hello\n")
            #expect(subject(result.stderr) == "O=gateway development; \(expected)", "\(host)")
            #expect(result.stderr.contains("subjectAltName: host \"\(host)\" matched cert's"), "\(host)")
        }
        let unknown = Tool.curl(["-v", "-k", "--resolve", "c.test:\(port):127.0.0.1", "https://c.test:\(port)/hello.txt"])
        #expect(subject(unknown.stderr) == "O=gateway development; CN=a.test")
    }

    @Test("SIGHUP reloads the certificate: new connections see the new one, an open connection keeps working")
    func certificateReload() throws {
        let (dir, config) = tlsSite(certificates: #"{"certificate": "certs/site.pem", "key": "certs/site-key.pem"}"#)
        let certs = dir.file("certs")
        makeCertificate(in: certs, names: ["first.test", "localhost"], out: "site")
        let gateway = try GatewayProcess(config: config, directory: dir)
        let url = gateway.url("tls", "/hello.txt", scheme: "https", host: "localhost")
        let before = Tool.curl(["-v", "--cacert", dir.file("certs/ca.pem"), url])
        #expect(subject(before.stderr) == "O=gateway development; CN=first.test")

        let session = try OpenSSLSession(port: gateway.port("tls"), serverName: "localhost", caFile: dir.file("certs/ca.pem"))
        session.send("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(session.waitFor("hello\n"))

        makeCertificate(in: certs, names: ["second.test", "localhost"], out: "site", force: true)
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        let after = Tool.curl(["-v", "--cacert", dir.file("certs/ca.pem"), url])
        #expect(after.output == "hello\n")
        #expect(subject(after.stderr) == "O=gateway development; CN=second.test")

        session.send("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(session.waitFor("hello\n", count: 2), "the connection opened before the reload: \(session.received)")
        #expect(session.received.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
    }

    @Test("a reload with a certificate that does not load keeps the old one serving")
    func brokenCertificateReload() throws {
        let (dir, config) = tlsSite(certificates: #"{"certificate": "certs/site.pem", "key": "certs/site-key.pem"}"#)
        makeCertificate(in: dir.file("certs"), names: ["localhost"], out: "site")
        let gateway = try GatewayProcess(config: config, directory: dir)
        dir.write("certs/site.pem", "not a certificate\n")
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        #expect(gateway.stderr.contains("/listeners/0/tls"))
        let result = Tool.curl(["--cacert", dir.file("certs/ca.pem"), gateway.url("tls", "/hello.txt", scheme: "https", host: "localhost")])
        #expect(result.output == "hello\n")
    }
}
