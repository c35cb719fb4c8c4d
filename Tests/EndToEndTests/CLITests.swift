import Foundation
import HTTP2TestClient
import Testing

/// Runs the gateway binary with `arguments` in `directory`.
func gateway(_ arguments: [String], in directory: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> Tool.Result {
    Tool.run(Paths.gateway, arguments, directory: directory, timeout: 60, sourceLocation: sourceLocation)
}

/// The command line as a user meets it: check, list-types, cert --dev, version, usage errors.
@Suite("gateway CLI")
struct CLITests {
    @Test("check prints all three mistakes of a config with their pointers and exits 1")
    func checkThreeMistakes() {
        let dir = TemporaryDirectory()
        dir.write("www/index.html", "hi")
        let path = dir.write("pipeline.json", #"""
            {"version": 1,
             "listeners": [{"name": "web", "listen": "127.0.0.1:8080", "timeouts": {"keepAlive": "forever"}}],
             "stacks": {"site": {"chain": [{"type": "fiels", "root": "www"}]}},
             "run": ["site", "apt"]}
            """#)
        let result = gateway(["check", path])
        #expect(result.status == 1)
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"error: /listeners/0/timeouts/keepAlive: expected a duration such as 30, "250ms", "30s", "5m" or "1h""#))
        #expect(lines.contains(#"error: /stacks/site/chain/0/type: unknown type "fiels" (did you mean "files"?)"#))
        #expect(lines.contains(#"error: /run/1: unknown stack "apt""#))
        #expect(lines.last == "\(path): 3 errors")
    }

    @Test("a URL with a password in it is refused without the password ever being printed")
    func credentialedURLNotEchoed() {
        let dir = TemporaryDirectory()
        let path = dir.write("pipeline.json", #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:8080"}],
             "stacks": {"proxy": {"chain": [{"type": "upstream", "url": "https://svc:${UPSTREAM_PASSWORD}@internal.example/api?token=t0ps3cret"}]},
                        "other": {"chain": [{"type": "upstream", "url": "ftp://files.example/x?sig=t0ps3cret"}]}}}
            """#)
        let result = Tool.run(Paths.gateway, ["check", path], environment: ["UPSTREAM_PASSWORD": "hunter2-secret"])
        #expect(result.status == 1)
        #expect(!result.output.contains("hunter2") && !result.stderr.contains("hunter2"), "\(result.output)")
        #expect(!result.output.contains("t0ps3cret"), "\(result.output)")
        #expect(result.output.contains("error: /stacks/proxy/chain/0/url: credentials in the URL are not accepted"), "\(result.output)")
        #expect(result.output.contains(#"error: /stacks/other/chain/0/url: "ftp://files.example/x" is not an http:// or https:// URL"#),
                "\(result.output)")
    }

    @Test("check changes nothing on disk: a cache directory and a log file are checked, not created")
    func checkHasNoSideEffects() throws {
        let dir = TemporaryDirectory()
        dir.write("www/index.html", "hi")
        dir.write("occupied", "a file where a directory should be")
        func config(disk: String) -> String {
            """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:8080"}],
             "stacks": {"site": {"chain": [{"type": "log", "output": "logs/access.log"}, {"type": "cache", "disk": "\(disk)"},
                                           {"type": "files", "root": "www"}]}}}
            """
        }
        try FileManager.default.createDirectory(atPath: dir.file("logs"), withIntermediateDirectories: true)
        let good = gateway(["check", dir.write("pipeline.json", config(disk: "cache"))])
        #expect(good.status == 0, "\(good.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("cache")), "check created the cache directory")
        #expect(!FileManager.default.fileExists(atPath: dir.file("logs/access.log")), "check created the log file")
        let bad = gateway(["check", dir.write("bad.json", config(disk: "occupied"))])
        #expect(bad.status == 1)
        #expect(bad.output.contains("error: /stacks/site/chain/1/disk: cannot use"), "\(bad.output)")
        // A live gateway's fill in progress is left alone by a check of the same file.
        try FileManager.default.createDirectory(atPath: dir.file("cache/tmp"), withIntermediateDirectories: true)
        let fill = dir.write("cache/tmp/fill-in-progress", "partial")
        #expect(gateway(["check", dir.file("pipeline.json")]).status == 0)
        #expect(FileManager.default.fileExists(atPath: fill))
    }

    @Test("check on a valid file prints its warnings and exits 0")
    func checkValid() {
        let dir = TemporaryDirectory()
        dir.write("www/index.html", "hi")
        let path = dir.write("pipeline.json", #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:8080"}],
             "stacks": {"site": {"chain": [{"type": "files", "root": "www"}]}, "spare": {"chain": [{"type": "respond"}]}},
             "run": ["site"]}
            """#)
        let result = gateway(["check", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(#"warning: /stacks/spare: not listed in "run", so it serves nothing"#))
        #expect(result.output.hasSuffix("\(path): ok (1 listener, 1 stack running)\n"))
    }

    @Test("check reads ./pipeline.json by default and reports a file it cannot read")
    func checkDefaultAndMissing() {
        let dir = TemporaryDirectory()
        let missing = gateway(["check"], in: dir.path)
        #expect(missing.status == 1)
        #expect(missing.output.contains("error: /: cannot read \(dir.path)/pipeline.json: No such file or directory"))
    }

    @Test("the repository's default pipeline.json is valid once the dev certificate exists")
    func defaultPipeline() throws {
        let dir = TemporaryDirectory()
        let config = try String(contentsOfFile: Paths.root + "/pipeline.json", encoding: .utf8)
        dir.write("pipeline.json", config)
        try FileManager.default.copyItem(atPath: Paths.root + "/examples", toPath: dir.file("examples"))
        makeCertificate(in: dir.file("certs"), names: ["localhost", "127.0.0.1", "::1"], out: "gateway")
        let result = gateway(["check"], in: dir.path)
        #expect(result.status == 0, "\(result.output)")
        #expect(config.contains("\"localhost:8443\""))
        #expect(config.contains("\"localhost:8080\""))
    }

    @Test("usage mistakes print one line and exit 2", arguments: [
        ["bogus"], [], ["serve", "--confg", "x.json"], ["serve", "--config"], ["cert"], ["check", "a.json", "b.json"], ["serve", "extra"],
        ["reload", "--force"], ["stop", "--timeout", "soon"], ["help", "serv"], ["version", "--verbose"],
    ])
    func usageErrors(_ arguments: [String]) {
        let result = gateway(arguments)
        #expect(result.status == 2, "\(arguments)")
        #expect(result.output.isEmpty)
        #expect(result.stderr.hasPrefix("gateway: "))
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test("a misspelled command or option gets a suggestion")
    func suggestions() {
        #expect(gateway(["chek"]).stderr == "gateway: unknown command \"chek\" (did you mean \"check\"?)\n")
        #expect(gateway(["serve", "--confg", "x"]).stderr
                == "gateway: unknown option --confg (did you mean \"config\"?); see `gateway serve --help`\n")
    }

    /// Every command and the options it takes, as a user would look them up.
    static let commandOptions: [(command: String, options: [String])] = [
        ("serve", ["--config FILE", "--pid-file PATH"]),
        ("check", ["--config FILE", "[FILE]"]),
        ("reload", ["--config FILE", "--pid-file PATH"]),
        ("stop", ["--config FILE", "--pid-file PATH", "--timeout DURATION"]),
        ("upgrade", ["--config FILE", "--pid-file PATH", "--timeout DURATION"]),
        ("list-types", []),
        ("cert", ["--dev", "--dir DIR", "--name NAME", "--out BASE", "--force"]),
        ("hash-password", ["--user NAME", "--pbkdf2", "--token"]),
        ("version", []),
        ("help", ["[COMMAND]"]),
    ]

    @Test("every command answers --help and -h with its usage and options, exit 0", arguments: commandOptions.map(\.command))
    func commandHelp(_ command: String) {
        let options = Self.commandOptions.first { $0.command == command }!.options
        for flag in ["--help", "-h"] {
            let result = gateway([command, flag])
            #expect(result.status == 0, "\(command) \(flag): \(result.stderr)")
            #expect(result.stderr.isEmpty)
            #expect(result.output.hasPrefix("usage: gateway \(command)"), "\(result.output)")
            for option in options { #expect(result.output.contains(option), "\(command) --help lacks \(option)") }
            #expect(result.output.contains("-h, --help"))
        }
        // `gateway help COMMAND` says the same.
        #expect(gateway(["help", command]).output == gateway([command, "--help"]).output)
        // --help wins over anything else on the line, even a mistake.
        #expect(gateway([command, "--bogus", "--help"]).status == 0)
    }

    @Test("gateway --help, -h and help list every command with every option; version prints the version")
    func versionAndHelp() {
        let version = gateway(["version"])
        #expect(version.status == 0)
        #expect(version.output.hasPrefix("gateway "))
        for spelling in ["help", "--help", "-h"] {
            let help = gateway([spelling])
            #expect(help.status == 0)
            for (command, options) in Self.commandOptions {
                #expect(help.output.contains("\n  \(command)"), "\(command) missing from gateway \(spelling)")
                for option in options { #expect(help.output.contains(option), "\(option) of \(command) missing") }
            }
            #expect(help.output.contains("cert --dev [--dir DIR] [--name NAME]... [--out BASE] [--force]"))
        }
    }

    @Test("check on a directory says it is one, and points at the pipeline.json inside")
    func checkDirectory() {
        let dir = TemporaryDirectory()
        let bare = gateway(["check", dir.path])
        #expect(bare.status == 1)
        #expect(bare.output.hasPrefix("error: /: cannot read \(dir.path): it is a directory, not a pipeline file; give the pipeline file itself\n"),
                "\(bare.output)")
        dir.write("pipeline.json", "{}")
        let hinted = gateway(["check", dir.path])
        #expect(hinted.output.hasPrefix("error: /: cannot read \(dir.path): it is a directory, not a pipeline file (did you mean \(dir.path)/pipeline.json?)\n"),
                "\(hinted.output)")
        let serve = gateway(["serve", "--config", dir.path])
        #expect(serve.status == 1)
        #expect(serve.stderr.contains("it is a directory, not a pipeline file"))
    }

    @Test("certificate and key files that cannot be used: one line naming the file and why; OpenSSL's chain only at debug level")
    func certificateErrors() throws {
        let dir = TemporaryDirectory()
        makeCertificate(in: dir.file("certs"), names: ["localhost"], out: "site")
        makeCertificate(in: dir.file("certs"), names: ["localhost"], out: "other")
        let encrypted = Tool.run("openssl", ["pkey", "-in", dir.file("certs/site-key.pem"), "-aes256", "-passout", "pass:secret",
                                             "-out", dir.file("encrypted-key.pem")])
        #expect(encrypted.status == 0, "\(encrypted.stderr)")
        dir.write("garbled.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
        try FileManager.default.createDirectory(atPath: dir.file("a-directory"), withIntermediateDirectories: true)
        func listener(_ certificate: String, _ key: String) -> String {
            #"{"listen": "127.0.0.1:0", "tls": {"certificate": "\#(certificate)", "key": "\#(key)"}}"#
        }
        let path = dir.write("pipeline.json", """
            {"version": 1, "listeners": [
                \(listener("missing.pem", "certs/site-key.pem")),
                \(listener("certs/site.pem", "certs/ca.pem")),
                \(listener("certs/site.pem", "certs/other-key.pem")),
                \(listener("certs/site.pem", "encrypted-key.pem")),
                \(listener("garbled.pem", "certs/site-key.pem")),
                \(listener("a-directory", "certs/site-key.pem"))],
             "stacks": {"s": {"chain": [{"type": "respond"}]}}}
            """)
        let expected = [
            "error: /listeners/0/tls/certificate: certificate \(dir.path)/missing.pem: No such file or directory",
            #"error: /listeners/1/tls/key: private key \#(dir.path)/certs/ca.pem: no PEM private key in it (it holds "CERTIFICATE")"#,
            "error: /listeners/2/tls/key: private key \(dir.path)/certs/other-key.pem does not belong to the certificate given with it",
            "error: /listeners/3/tls/key: private key \(dir.path)/encrypted-key.pem: is encrypted with a passphrase; "
                + "give it unencrypted (openssl pkey -in KEY -out KEY.plain)",
            "error: /listeners/4/tls/certificate: certificate \(dir.path)/garbled.pem: OpenSSL cannot use it (bad base64 decode)",
            "error: /listeners/5/tls/certificate: certificate \(dir.path)/a-directory: is a directory",
        ]
        let result = gateway(["check", path])
        #expect(result.status == 1)
        let lines = result.output.split(separator: "\n").map(String.init)
        for line in expected { #expect(lines.contains(line), "missing: \(line)\n\(result.output)") }
        #expect(!result.output.contains("routines"), "OpenSSL's chain reached the user: \(result.output)")
        #expect(result.stderr.isEmpty)

        let debug = Tool.run(Paths.gateway, ["check", path], environment: ["GATEWAY_LOG_LEVEL": "debug"])
        #expect(debug.output == result.output)
        #expect(debug.stderr.contains(#""level":"debug","msg":"OpenSSL refused a certificate","file":"\#(dir.path)/garbled.pem","openssl":"error:"#),
                "\(debug.stderr)")
        #expect(debug.stderr.contains("PEM routines::bad base64 decode"))

        // serve says the same, once per problem, and starts nothing.
        let serve = gateway(["serve", "--config", path])
        #expect(serve.status == 1)
        #expect(serve.stderr.contains(#""at":"/listeners/0/tls/certificate","problem":"certificate \#(dir.path)/missing.pem: No such file or directory""#))
    }

    @Test("list-types shows every built-in type with its options")
    func listTypes() {
        let result = gateway(["list-types"])
        #expect(result.status == 0)
        for line in ["  files *  [behaviour]", "  router *  [behaviour]", "  respond *  [behaviour]", "  log  [observe]", "  tls  [transport]"] {
            #expect(result.output.contains(line), "\(line)")
        }
        for option in ["root", "stripPrefix", "cacheControl", "routes", "redirect", "hsts", "output"] {
            #expect(result.output.contains("      \(option) "), "\(option)")
        }
    }

    @Test("cert --dev makes a CA and a server certificate that openssl verifies, keeps them, and says how to trust them")
    func certDev() throws {
        let dir = TemporaryDirectory()
        let result = gateway(["cert", "--dev"], in: dir.path)
        #expect(result.status == 0)
        #expect(result.output.contains("curl --cacert certs/ca.pem https://localhost:8443/"))
        #expect(result.output.contains("update-ca-certificates"))
        let verify = Tool.run("openssl", ["verify", "-CAfile", dir.file("certs/ca.pem"), dir.file("certs/gateway.pem")])
        #expect(verify.output.contains("OK"), "\(verify.stderr)")
        let text = Tool.run("openssl", ["x509", "-in", dir.file("certs/gateway.pem"), "-noout", "-text"]).output
        #expect(text.contains("DNS:localhost"))
        #expect(text.contains("IP Address:127.0.0.1"))
        #expect(text.contains("IP Address:0:0:0:0:0:0:0:1"))
        #expect(text.contains("TLS Web Server Authentication"))
        let keyMode = try FileManager.default.attributesOfItem(atPath: dir.file("certs/gateway-key.pem"))[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        let before = try Data(contentsOf: URL(fileURLWithPath: dir.file("certs/gateway.pem")))
        let twice = gateway(["cert", "--dev"], in: dir.path)
        #expect(twice.status == 0)
        #expect(twice.output.hasPrefix("kept the existing certificate certs/gateway.pem"), "\(twice.output)")
        #expect(result.output.hasPrefix("certificate: certs/gateway.pem"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("certs/gateway.pem"))) == before)
        #expect(gateway(["cert", "--dev", "--force"], in: dir.path).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("certs/gateway.pem"))) != before)
        // The CA is reused, so a trusted CA stays trusted.
        #expect(Tool.run("openssl", ["verify", "-CAfile", dir.file("certs/ca.pem"), dir.file("certs/gateway.pem")]).output.contains("OK"))
    }

    @Test("apt keygen writes a bare name in the working directory, the secret key 0600 from the start (also over a wider file with --force); a bad folder is one line")
    func aptKeygen() throws {
        let dir = TemporaryDirectory()
        func mode(_ name: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: dir.file(name))[.posixPermissions] as? Int }
        let made = gateway(["apt", "keygen", "--out", "signing"], in: dir.path)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.output.contains("secret key:  signing.asc"))
        #expect(try mode("signing.asc") == 0o600)
        #expect(try mode("signing.pub.asc") == 0o644)
        #expect(try String(contentsOfFile: dir.file("signing.asc"), encoding: .utf8).hasPrefix("-----BEGIN PGP PRIVATE KEY BLOCK-----"))
        #expect(gateway(["apt", "keygen", "--out", "signing"], in: dir.path).status != 0, "an existing key is kept without --force")

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir.file("signing.asc"))
        #expect(gateway(["apt", "keygen", "--out", "signing", "--force"], in: dir.path).status == 0)
        #expect(try mode("signing.asc") == 0o600)

        dir.write("plain-file", "x")
        let bad = gateway(["apt", "keygen", "--out", "plain-file/signing"], in: dir.path)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("cannot write the key: mkdir plain-file: "), "\(bad.stderr)")
        #expect(!bad.stderr.contains("NSCocoaErrorDomain"))
        #expect(bad.stderr.split(separator: "\n").count == 1)
    }

    @Test("serve with an invalid config logs every error and exits 1; a busy port exits 1")
    func serveFailures() {
        let dir = TemporaryDirectory()
        let path = dir.write("pipeline.json", #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}], "stacks": {"s": {"chain": [{"type": "respon"}]}}}
            """#)
        let invalid = gateway(["serve", "--config", path])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains(#""at":"/stacks/s/chain/0/type""#))
        #expect(invalid.stderr.contains("nothing started"))

        let blocker = Loopback.occupyPort()
        defer { close(blocker.fd) }
        dir.write("busy.json", """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:\(blocker.port)"}],
             "stacks": {"s": {"chain": [{"type": "respond"}]}}}
            """)
        let busy = gateway(["serve", "--config", dir.file("busy.json")])
        #expect(busy.status == 1)
        #expect(busy.stderr.contains("cannot start: bind"))
    }
}
