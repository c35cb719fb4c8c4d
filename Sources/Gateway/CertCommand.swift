import Pipeline

/// `gateway cert --dev`: a local CA and a server certificate for development.
enum CertCommand {
    static func run(_ arguments: [String]) -> Int32 {
        let parsed = CLI.options(arguments, flags: ["dir", "name", "out"], switches: ["dev", "force"])
        guard parsed.switches.contains("dev") else {
            CLI.usageError("cert needs --dev (it only makes development certificates; use a real CA for production)")
        }
        let dir = parsed.values["dir"]?.last ?? "certs"
        let names = parsed.values["name"] ?? ["localhost", "127.0.0.1", "::1"]
        let basename = parsed.values["out"]?.last ?? "gateway"
        do {
            let files = try DevCertificates.create(in: dir, names: names, basename: basename, overwrite: parsed.switches.contains("force"))
            print("""
                certificate: \(files.certificate)
                key:         \(files.key)
                CA:          \(files.caCertificate)   (names: \(names.joined(separator: ", ")))

                To trust it:
                  curl:       curl --cacert \(files.caCertificate) https://localhost:8443/
                  terraform:  SSL_CERT_FILE=\(CLI.absolute(files.caCertificate)) terraform init
                  system:     cp \(files.caCertificate) /usr/local/share/ca-certificates/gateway-dev.crt && update-ca-certificates
                """)
            return 0
        } catch {
            CLI.fail("cannot create certificates: \(error)")
        }
    }
}
