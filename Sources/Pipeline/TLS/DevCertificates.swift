internal import COpenSSL
#if canImport(Glibc)
internal import Glibc
#endif

/// Makes a local certificate authority and server certificates signed by it, with OpenSSL:
/// ECDSA P-256 keys, SHA-256 signatures, subjectAltName for every name, serverAuth EKU.
/// For development and tests only; production certificates come from a real CA.
public enum DevCertificates {
    public struct Files: Sendable {
        public let caCertificate: String
        public let certificate: String
        public let key: String
        /// True when the server certificate already existed and was kept (no `overwrite`).
        public var kept = false
    }

    /// Writes `dir/ca.pem` + `dir/ca-key.pem` (created once, reused afterwards) and
    /// `dir/<basename>.pem` + `dir/<basename>-key.pem` for `names` (DNS names or IP addresses).
    /// An existing server certificate is kept unless `overwrite` is set.
    public static func create(in dir: String, names: [String], basename: String = "gateway", overwrite: Bool = false) throws -> Files {
        mkdir(dir, 0o755)
        let caPath = dir + "/ca.pem", caKeyPath = dir + "/ca-key.pem"
        let certPath = dir + "/\(basename).pem", keyPath = dir + "/\(basename)-key.pem"
        var files = Files(caCertificate: caPath, certificate: certPath, key: keyPath)
        if !overwrite, access(certPath, F_OK) == 0, access(keyPath, F_OK) == 0 {
            files.kept = true
            return files
        }

        let (caCert, caKey) = try loadOrCreateAuthority(certificate: caPath, key: caKeyPath)
        defer {
            X509_free(caCert)
            EVP_PKEY_free(caKey)
        }
        let key = try generateKey()
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw TLSError("X509_new failed") }
        defer { X509_free(certificate) }
        try fill(certificate, key: key, commonName: names.first ?? "localhost", days: 397, issuer: caCert)
        try addExtension(certificate, issuer: caCert, NID_basic_constraints, "critical,CA:FALSE")
        try addExtension(certificate, issuer: caCert, NID_key_usage, "critical,digitalSignature,keyEncipherment")
        try addExtension(certificate, issuer: caCert, NID_ext_key_usage, "serverAuth")
        try addExtension(certificate, issuer: caCert, NID_subject_key_identifier, "hash")
        try addExtension(certificate, issuer: caCert, NID_authority_key_identifier, "keyid:always")
        let san = names.map { SocketAddress(ip: $0, port: 0) != nil ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        try addExtension(certificate, issuer: caCert, NID_subject_alt_name, san)
        guard X509_sign(certificate, caKey, EVP_sha256()) > 0 else { throw TLSError("signing failed: \(OpenSSLError.drain())") }
        try write(certificate: certificate, to: certPath)
        try write(key: key, to: keyPath)
        return files
    }

    private static func loadOrCreateAuthority(certificate path: String, key keyPath: String) throws -> (OpaquePointer, OpaquePointer) {
        if access(path, F_OK) == 0, access(keyPath, F_OK) == 0 {
            if let problem = PEMFile.problem(path, .certificate) ?? PEMFile.problem(keyPath, .privateKey) { throw TLSError(problem) }
            guard let certBIO = BIO_new_file(path, "r") else { throw TLSError(PEMFile.refused(path, .certificate)) }
            defer { BIO_free(certBIO) }
            guard let keyBIO = BIO_new_file(keyPath, "r") else { throw TLSError(PEMFile.refused(keyPath, .privateKey)) }
            defer { BIO_free(keyBIO) }
            guard let cert = PEM_read_bio_X509(certBIO, nil, nil, nil) else { throw TLSError(PEMFile.refused(path, .certificate)) }
            guard let key = PEM_read_bio_PrivateKey(keyBIO, nil, { _, _, _, _ in 0 }, nil) else {
                X509_free(cert)
                throw TLSError(PEMFile.refused(keyPath, .privateKey))
            }
            return (cert, key)
        }
        let key = try generateKey()
        guard let cert = X509_new() else { throw TLSError("X509_new failed") }
        try fill(cert, key: key, commonName: "gateway development CA", days: 3650, issuer: nil)
        try addExtension(cert, issuer: cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
        try addExtension(cert, issuer: cert, NID_key_usage, "critical,keyCertSign,cRLSign")
        try addExtension(cert, issuer: cert, NID_subject_key_identifier, "hash")
        guard X509_sign(cert, key, EVP_sha256()) > 0 else { throw TLSError("signing failed: \(OpenSSLError.drain())") }
        try write(certificate: cert, to: path)
        try write(key: key, to: keyPath)
        return (cert, key)
    }

    private static func generateKey() throws -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw TLSError("EC unavailable: \(OpenSSLError.drain())") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
              EVP_PKEY_generate(context, &key) == 1, let key else {
            throw TLSError("key generation failed: \(OpenSSLError.drain())")
        }
        return key
    }

    private static func fill(_ cert: OpaquePointer, key: OpaquePointer, commonName: String, days: Int, issuer: OpaquePointer?) throws {
        X509_set_version(cert, 2)
        let serial = BN_new()
        defer { BN_free(serial) }
        BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert))
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600)
        X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400)
        X509_set_pubkey(cert, key)
        let name = X509_get_subject_name(cert)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, "gateway development", -1, -1, 0)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0)
        X509_set_issuer_name(cert, issuer.map { X509_get_subject_name($0) } ?? name)
    }

    private static func addExtension(_ cert: OpaquePointer, issuer: OpaquePointer, _ nid: Int32, _ value: String) throws {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer, cert, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw TLSError("bad certificate extension \(value): \(OpenSSLError.drain())")
        }
        X509_add_ext(cert, ext, -1)
        X509_EXTENSION_free(ext)
    }

    private static func write(certificate: OpaquePointer, to path: String) throws {
        guard let bio = BIO_new_file(path, "w") else { throw TLSError("cannot write \(path)") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, certificate) == 1 else { throw TLSError("cannot write \(path)") }
    }

    private static func write(key: OpaquePointer, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TLSError("cannot write \(path)") }
        // An existing file keeps its bits through O_CREAT: narrow them before the key is written.
        let narrowed = fchmod(fd, 0o600) == 0
        close(fd)
        guard narrowed else { throw TLSError("cannot write \(path)") }
        guard let bio = BIO_new_file(path, "w") else { throw TLSError("cannot write \(path)") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) == 1 else { throw TLSError("cannot write \(path)") }
    }
}
