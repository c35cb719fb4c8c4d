internal import COpenSSL

/// The digests OpenPGP signatures here are made and checked with (RFC 9580 §9.5). SHA-1 and
/// SHA-224 are deliberately absent: apt 2.6 and sqv refuse SHA-1 data signatures and sqv's policy
/// refuses SHA-1 self-signatures (apt.md §0 rule 7, §4.3), so a key or signature using them is
/// refused here too rather than accepted and then rejected by every client.
public enum OpenPGPHashAlgorithm: UInt8, Sendable, CaseIterable {
    case sha256 = 8
    case sha384 = 9
    case sha512 = 10

    /// The name in a cleartext message's `Hash:` armor header (RFC 9580 §9.5, "Text Name").
    public var armorName: String {
        switch self {
        case .sha256: "SHA256"
        case .sha384: "SHA384"
        case .sha512: "SHA512"
        }
    }

    var md: OpaquePointer? {
        switch self {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }

    /// Refuses digests outside the supported set with their RFC name.
    init(id: UInt8) throws {
        guard let algorithm = Self(rawValue: id) else {
            let name = [1: "MD5", 2: "SHA-1", 3: "RIPEMD-160", 11: "SHA-224", 12: "SHA3-256", 14: "SHA3-512"][Int(id)] ?? "number \(id)"
            throw CryptoError("OpenPGP: digest \(name) is not accepted (SHA-256, SHA-384 or SHA-512 only)")
        }
        self = algorithm
    }
}

/// An incremental digest of the hash input of one signature (RFC 9580 §5.2.4): the data or the
/// key packets, then the signature's trailer.
final class OpenPGPHasher {
    private let context: OpaquePointer

    init(_ algorithm: OpenPGPHashAlgorithm) {
        context = EVP_MD_CTX_new()
        precondition(EVP_DigestInit_ex(context, algorithm.md, nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: [UInt8]) {
        let ok = bytes.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        precondition(ok == 1, "EVP_DigestUpdate failed")
    }

    /// The digest; the hasher must not be used afterwards.
    func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &out, &length) == 1, "EVP_DigestFinal_ex failed")
        return Array(out.prefix(Int(length)))
    }
}
