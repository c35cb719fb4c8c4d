import Pipeline

/// `gateway cert --dev`: a local CA and a server certificate for development.
enum CertCommand {
    static let spec = CommandSpec(
        "cert",
        summary: """
            Creates a local certificate authority (DIR/ca.pem, made once and reused) and a server certificate
            DIR/BASE.pem with its key DIR/BASE-key.pem for the names, and says how to trust the CA. An existing
            server certificate is kept unless --force. For development only: use a real CA in production.
            """,
        options: [
            .init(name: "dev", value: nil, help: "make development certificates (required)", required: true),
            .init(name: "dir", value: "DIR", help: "where the files go (default certs)"),
            .init(name: "name", value: "NAME", help: "a DNS name or IP address (default localhost 127.0.0.1 ::1)", repeatable: true),
            .init(name: "out", value: "BASE", help: "the server certificate's file name without .pem (default gateway)"),
            .init(name: "force", value: nil, help: "replace an existing server certificate (the CA is kept)"),
        ])

    static func run(_ arguments: [String]) -> Int32 {
        let parsed = CLI.parse(arguments, spec)
        guard parsed.switches.contains("dev") else {
            CLI.usageError("cert needs --dev (it only makes development certificates; use a real CA for production)")
        }
        let dir = parsed.values["dir"]?.last ?? "certs"
        let names = parsed.values["name"] ?? ["localhost", "127.0.0.1", "::1"]
        let basename = parsed.values["out"]?.last ?? "gateway"
        do {
            let files = try DevCertificates.create(in: dir, names: names, basename: basename, overwrite: parsed.switches.contains("force"))
            let what = files.kept
                ? "kept the existing certificate \(files.certificate) (its names are unchanged; --force makes a new one)"
                : "certificate: \(files.certificate)   (names: \(names.joined(separator: ", ")))"
            print("""
                \(what)
                key:         \(files.key)
                CA:          \(files.caCertificate)

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
