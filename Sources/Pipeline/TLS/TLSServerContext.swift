internal import COpenSSL

/// The certificates of one TLS listener: one `SSL_CTX` per certificate, chosen by SNI against the
/// names in each certificate (subjectAltName DNS entries, wildcards included), the first being
/// the default. TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, ALPN from the listener's
/// protocols. A reload builds a new value; connections keep the one they started with.
public final class TLSServerContext: @unchecked Sendable {
    // Immutable after init; SSL_CTX is internally reference counted and thread-safe for SSL_new.
    let contexts: [OpaquePointer]
    let names: [(name: String, context: OpaquePointer)]
    let alpnWire: [UInt8]
    public let protocols: [String]

    /// Mozilla "intermediate" TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults (all AEAD).
    static let cipherList = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    public init(certificates: [(certificate: String, key: String)], protocols: [String]) throws {
        self.protocols = protocols
        alpnWire = protocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        var contexts: [OpaquePointer] = []
        var names: [(String, OpaquePointer)] = []
        var unusable: [FileError] = []
        do {
            for (index, pair) in certificates.enumerated() {
                // Read errors said plainly, for both files; OpenSSL's own chain is for the debug log.
                let unreadable = [("certificate", PEMFile.problem(pair.certificate, .certificate)), ("key", PEMFile.problem(pair.key, .privateKey))]
                    .compactMap { option, problem in problem.map { FileError(index: index, option: option, description: $0) } }
                guard unreadable.isEmpty else {
                    unusable += unreadable
                    continue
                }
                let context: OpaquePointer
                do {
                    context = try Self.makeContext(certificate: pair.certificate, key: pair.key, index: index)
                } catch let error as FileError {
                    unusable.append(error)   // every pair is tried, so every bad file is reported at once
                    continue
                }
                contexts.append(context)
                for name in Self.dnsNames(of: context) { names.append((name.lowercasedASCII(), context)) }
            }
            if !unusable.isEmpty { throw FileErrors(errors: unusable) }
        } catch {
            for context in contexts { SSL_CTX_free(context) }
            throw error
        }
        self.contexts = contexts
        self.names = names
        let arg = Unmanaged.passUnretained(self).toOpaque()
        for context in contexts {
            _ = copenssl_SSL_CTX_set_tlsext_servername_callback(context, { ssl, _, arg in
                guard let ssl, let arg else { return SSL_TLSEXT_ERR_NOACK }
                let server = Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue()
                guard let raw = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return SSL_TLSEXT_ERR_OK }
                if let context = server.context(forServerName: String(cString: raw)) { SSL_set_SSL_CTX(ssl, context) }
                return SSL_TLSEXT_ERR_OK
            })
            _ = copenssl_SSL_CTX_set_tlsext_servername_arg(context, arg)
            SSL_CTX_set_alpn_select_cb(context, { _, out, outlen, input, inlen, arg in
                guard let out, let outlen, let input, let arg else { return SSL_TLSEXT_ERR_NOACK }
                let server = Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue()
                // Our preference order wins; point into the client's list, which outlives the callback.
                for wanted in server.protocols {
                    var i = 0
                    while i < Int(inlen) {
                        let length = Int(input[i])
                        if i + 1 + length <= Int(inlen),
                           UnsafeBufferPointer(start: input + i + 1, count: length).elementsEqual(wanted.utf8) {
                            out.pointee = input + i + 1
                            outlen.pointee = UInt8(length)
                            return SSL_TLSEXT_ERR_OK
                        }
                        i += 1 + length
                    }
                }
                return SSL_TLSEXT_ERR_ALERT_FATAL   // RFC 7301 §3.2 no_application_protocol
            }, arg)
        }
    }

    deinit {
        for context in contexts { SSL_CTX_free(context) }
    }

    /// The context whose certificate names `serverName`; exact names win over wildcards.
    func context(forServerName serverName: String) -> OpaquePointer? {
        let name = serverName.lowercasedASCII()
        if let exact = names.first(where: { $0.name == name }) { return exact.context }
        if let dot = name.firstIndex(of: ".") {
            let wildcard = "*" + name[dot...]
            if let match = names.first(where: { $0.name == wildcard }) { return match.context }
        }
        return nil
    }

    /// The names the certificates cover, for logs and tests.
    public var serverNames: [String] { names.map(\.name) }

    func makeSSL() -> OpaquePointer? { SSL_new(contexts[0]) }

    /// A certificate or key file of the `index`th pair that cannot be used, said in one line.
    public struct FileError: Error, CustomStringConvertible {
        public let index: Int
        /// `certificate` or `key`: the option that names the file.
        public let option: String
        public let description: String
    }

    /// Every unusable file of one listener.
    public struct FileErrors: Error, CustomStringConvertible {
        public let errors: [FileError]
        public var description: String { errors.map(\.description).joined(separator: "; ") }
    }

    static func makeContext(certificate: String, key: String, index: Int = 0) throws -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw ConfigError("cannot create TLS context: \(OpenSSLError.drain())") }
        _ = copenssl_SSL_CTX_set_min_proto_version(context, copenssl_TLS1_2_VERSION())
        _ = copenssl_SSL_CTX_set_options(context, copenssl_SSL_OP_DEFAULTS())
        _ = copenssl_SSL_CTX_set_mode(context, copenssl_SSL_MODE_DEFAULTS())
        guard SSL_CTX_set_cipher_list(context, cipherList) == 1 else {
            SSL_CTX_free(context)
            throw ConfigError("cannot set TLS ciphers: \(OpenSSLError.drain())")
        }
        // Never a passphrase prompt on the terminal of a server: an encrypted key simply fails.
        SSL_CTX_set_default_passwd_cb(context, { _, _, _, _ in 0 })
        guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
            SSL_CTX_free(context)
            throw FileError(index: index, option: "certificate", description: PEMFile.refused(certificate, .certificate))
        }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(context)
            throw FileError(index: index, option: "key", description: PEMFile.refused(key, .privateKey))
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            _ = OpenSSLError.drain()
            SSL_CTX_free(context)
            throw FileError(index: index, option: "key", description: "private key \(key) does not belong to certificate \(certificate)")
        }
        return context
    }

    /// subjectAltName DNS names of the context's certificate, or its CN when it has none.
    static func dnsNames(of context: OpaquePointer) -> [String] {
        guard let certificate = SSL_CTX_get0_certificate(context) else { return [] }
        var result: [String] = []
        if let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) {
            let names = OpaquePointer(raw)
            for i in 0..<OPENSSL_sk_num(names) {
                guard let entry = OPENSSL_sk_value(names, i)?.assumingMemoryBound(to: GENERAL_NAME.self),
                      entry.pointee.type == copenssl_GEN_DNS(), let ia5 = entry.pointee.d.dNSName,
                      let data = ASN1_STRING_get0_data(ia5) else { continue }
                let length = Int(ASN1_STRING_length(ia5))
                result.append(String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self))
            }
            GENERAL_NAMES_free(names)
        }
        if result.isEmpty, let subject = X509_get_subject_name(certificate) {
            var buffer = [CChar](repeating: 0, count: 256)
            let n = X509_NAME_get_text_by_NID(subject, NID_commonName, &buffer, Int32(buffer.count))
            if n > 0 { result.append(String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return result
    }
}
