internal import COpenSSL

/// A certificate or key file as a person names it: checked before OpenSSL reads it, so that a
/// failure says which file and why in one line (`certificate /etc/gw/site.pem: No such file or
/// directory`) instead of OpenSSL's error chain, which goes to the debug log.
public enum PEMFile {
    public enum Kind: String, Sendable {
        case certificate
        case privateKey = "private key"
        case caCertificates = "CA file"
    }

    /// Nil when `path` can be read and holds a PEM block of `kind`; otherwise the one-line reason.
    /// An encrypted key is refused here: OpenSSL would ask for its passphrase on the terminal.
    public static func problem(_ path: String, _ kind: Kind) -> String? {
        let bytes: [UInt8]
        switch SmallFile.read(path, limit: 4 << 20) {   // CA bundles run to a few hundred KiB
        case .success(let read): bytes = read
        case .failure(let problem): return "\(kind.rawValue) \(path): \(problem)"
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let labels = text.components(between: "-----BEGIN ", and: "-----")
        switch kind {
        case .certificate, .caCertificates:
            guard labels.contains("CERTIFICATE") || labels.contains("TRUSTED CERTIFICATE") else {
                return "\(kind.rawValue) \(path): no PEM certificate in it (\(found(labels)))"
            }
        case .privateKey:
            if labels.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
                return "private key \(path): is encrypted with a passphrase; give it unencrypted (openssl pkey -in KEY -out KEY.plain)"
            }
            guard labels.contains(where: { $0 == "PRIVATE KEY" || $0 == "RSA PRIVATE KEY" || $0 == "EC PRIVATE KEY" }) else {
                return "private key \(path): no PEM private key in it (\(found(labels)))"
            }
        }
        return nil
    }

    /// The one line for a file that passed `problem` but OpenSSL still refused: OpenSSL's own reason
    /// for the first error, the whole chain in the debug log.
    static func refused(_ path: String, _ kind: Kind) -> String {
        let chain = OpenSSLError.drainCodes()
        Log.debug("OpenSSL refused a \(kind.rawValue)", [("file", path), ("openssl", chain.map(OpenSSLError.text).joined(separator: "; "))])
        let reason = chain.first.flatMap { ERR_reason_error_string($0).map { String(cString: $0) } } ?? "unreadable"
        // SSL_CTX_use_PrivateKey_file checks the key against the certificate already loaded.
        if kind == .privateKey, reason == "key values mismatch" { return "private key \(path) does not belong to the certificate given with it" }
        return "\(kind.rawValue) \(path): OpenSSL cannot use it (\(reason))"
    }

    private static func found(_ labels: [String]) -> String {
        labels.isEmpty ? "no -----BEGIN line" : "it holds " + labels.map { "\"\($0)\"" }.joined(separator: ", ")
    }
}

extension String {
    /// The texts between each `start` and the next `end`, e.g. PEM labels.
    func components(between start: String, and end: String) -> [String] {
        var result: [String] = []
        var rest = self[...]
        while let open = rest.firstRange(of: start) {
            rest = rest[open.upperBound...]
            guard let close = rest.firstRange(of: end) else { break }
            result.append(String(rest[..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return result
    }
}
