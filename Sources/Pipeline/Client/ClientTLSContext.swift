internal import COpenSSL

/// The client side of TLS to upstreams: the system CA bundle plus an optional CA file, TLS 1.2+,
/// SNI, and hostname (or IP) verification on every connection.
final class ClientTLSContext: @unchecked Sendable {
    // Immutable after init; SSL_CTX is reference counted and safe for concurrent SSL_new.
    let context: OpaquePointer

    init(caFile: String?, verify: Bool = true) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw ClientError.tls(host: "-", reason: OpenSSLError.drain()) }
        _ = copenssl_SSL_CTX_set_min_proto_version(context, copenssl_TLS1_2_VERSION())
        _ = copenssl_SSL_CTX_set_mode(context, copenssl_SSL_MODE_DEFAULTS())
        SSL_CTX_set_default_verify_paths(context)
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                SSL_CTX_free(context)
                let refused = PEMFile.refused(caFile, .caCertificates)   // empties OpenSSL's error queue too
                throw ConfigError(PEMFile.problem(caFile, .caCertificates) ?? refused)
            }
        }
        SSL_CTX_set_verify(context, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = SSL_CTX_set_alpn_protos(context, alpn, UInt32(alpn.count))
        self.context = context
    }

    deinit { SSL_CTX_free(context) }

    /// A new SSL for `host`, with SNI (names only) and the name or IP it must prove.
    func makeSSL(host: String) throws -> OpaquePointer {
        guard let ssl = SSL_new(context) else { throw ClientError.tls(host: host, reason: OpenSSLError.drain()) }
        if SocketAddress(ip: host, port: 0) != nil {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
        } else {
            _ = copenssl_SSL_set_tlsext_host_name(ssl, host)
            SSL_set1_host(ssl, host)
        }
        return ssl
    }
}
