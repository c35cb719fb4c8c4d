internal import COpenSSL

/// Message digests through OpenSSL's EVP interface.
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] { digest(Array(bytes), EVP_sha256()) }

    /// SHA-256 of a string's UTF-8 bytes.
    public static func sha256(_ text: String) -> [UInt8] { sha256(Array(text.utf8)) }

    /// SHA-512 of `bytes` (64 bytes).
    public static func sha512(_ bytes: some Collection<UInt8>) -> [UInt8] { digest(Array(bytes), EVP_sha512()) }

    /// SHA-1, only for naming things (OpenPGP v4 fingerprints, RFC 9580 §5.5.4.2), never to
    /// check integrity or signatures.
    static func sha1(_ bytes: some Collection<UInt8>) -> [UInt8] { digest(Array(bytes), EVP_sha1()) }

    static func digest(_ bytes: [UInt8], _ md: OpaquePointer?) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { EVP_Digest(input.baseAddress, input.count, $0.baseAddress, &length, md, nil) }
        }
        precondition(ok == 1, "EVP_Digest failed")
        return Array(out.prefix(Int(length)))
    }
}
