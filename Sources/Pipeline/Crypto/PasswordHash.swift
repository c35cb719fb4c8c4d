internal import COpenSSL

/// A salted, deliberately slow password hash in a self-describing PHC-style string, computed with
/// OpenSSL's KDFs. Two schemes:
///
/// * `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (RFC 7914; N = 2^ln), the default;
/// * `$pbkdf2-sha256$i=600000$<salt>$<hash>` (RFC 8018), for sites that need a NIST-listed KDF.
///
/// Salt and hash are base64 without padding. `gateway hash-password` writes these strings and
/// `auth.basic` reads them; the parameters travel in the string, so old hashes keep verifying
/// after the defaults change.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible {
    /// The KDF and its cost parameters.
    public enum Scheme: Sendable, Equatable {
        case scrypt(logN: Int, r: Int, p: Int)
        case pbkdf2SHA256(iterations: Int)

        /// scrypt with N = 2^15, r = 8, p = 1: 32 MiB and roughly 0.1 s per check on this class of machine.
        public static let `default` = Scheme.scrypt(logN: 15, r: 8, p: 1)
        /// PBKDF2-HMAC-SHA256 with OWASP's 2023 iteration count.
        public static let pbkdf2Default = Scheme.pbkdf2SHA256(iterations: 600_000)
    }

    public let scheme: Scheme
    public let salt: [UInt8]
    public let hash: [UInt8]

    /// Parses a hash string; the error says which part is wrong (never echoing the string).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty else { throw CryptoError("not a password hash (expected $scheme$params$salt$hash)") }
        let params = Self.parameters(parts[2])
        switch parts[1] {
        case "scrypt":
            guard let ln = params["ln"], let r = params["r"], let p = params["p"], params.count == 3 else {
                throw CryptoError("scrypt hash needs parameters ln, r and p")
            }
            guard (10...22).contains(ln), (1...32).contains(r), (1...16).contains(p) else {
                throw CryptoError("scrypt parameters out of range (ln 10-22, r 1-32, p 1-16)")
            }
            scheme = .scrypt(logN: ln, r: r, p: p)
        case "pbkdf2-sha256":
            guard let i = params["i"], params.count == 1 else { throw CryptoError("pbkdf2-sha256 hash needs parameter i") }
            guard (10_000...10_000_000).contains(i) else { throw CryptoError("pbkdf2-sha256 iterations out of range (10000-10000000)") }
            scheme = .pbkdf2SHA256(iterations: i)
        default:
            throw CryptoError("unknown password hash scheme \"\(parts[1])\" (use scrypt or pbkdf2-sha256)")
        }
        guard let salt = Base64.decode(parts[3], padding: false), salt.count >= 8 else { throw CryptoError("password hash salt is not base64 of at least 8 bytes") }
        guard let hash = Base64.decode(parts[4], padding: false), (16...64).contains(hash.count) else {
            throw CryptoError("password hash value is not base64 of 16 to 64 bytes")
        }
        self.salt = salt
        self.hash = hash
    }

    init(scheme: Scheme, salt: [UInt8], hash: [UInt8]) {
        self.scheme = scheme
        self.salt = salt
        self.hash = hash
    }

    /// Hashes `password` with a fresh 16-byte salt.
    public static func create(_ password: [UInt8], scheme: Scheme = .default) throws -> PasswordHash {
        let salt = SecureRandom.bytes(16)
        return PasswordHash(scheme: scheme, salt: salt, hash: try derive(password, salt: salt, scheme: scheme, length: 32))
    }

    /// True when `password` produces this hash. Takes the full KDF time whatever the input; run it
    /// off the event loops (`BlockingPool`).
    public func verify(_ password: [UInt8]) -> Bool {
        guard let candidate = try? Self.derive(password, salt: salt, scheme: scheme, length: hash.count) else { return false }
        return ConstantTime.equals(candidate, hash)
    }

    /// The PHC-style string.
    public var encoded: String {
        let params: String
        switch scheme {
        case .scrypt(let ln, let r, let p): params = "scrypt$ln=\(ln),r=\(r),p=\(p)"
        case .pbkdf2SHA256(let i): params = "pbkdf2-sha256$i=\(i)"
        }
        return "$" + params + "$" + Base64.encode(salt, padding: false) + "$" + Base64.encode(hash, padding: false)
    }

    public var description: String { encoded }

    private static func parameters(_ text: Substring) -> [String: Int] {
        var result: [String: Int] = [:]
        for pair in text.split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let value = Int(kv[1]), result[String(kv[0])] == nil else { return [:] }
            result[String(kv[0])] = value
        }
        return result
    }

    static func derive(_ password: [UInt8], salt: [UInt8], scheme: Scheme, length: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        // OpenSSL wants a valid pointer even for an empty password.
        let pass = password.isEmpty ? [0] : password
        let ok: Int32 = pass.withUnsafeBufferPointer { pw in
            salt.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    pw.withMemoryRebound(to: CChar.self) { pwChars in
                        switch scheme {
                        case .scrypt(let ln, let r, let p):
                            let n = UInt64(1) << UInt64(ln)
                            // Exactly what scrypt needs (128·r·(N + p)) plus slack; OpenSSL's default cap is 32 MiB.
                            let maxMemory = 128 * UInt64(r) * (n + UInt64(p) + 2) + (1 << 20)
                            return EVP_PBE_scrypt(pwChars.baseAddress, password.count, s.baseAddress, s.count, n, UInt64(r), UInt64(p),
                                                  maxMemory, o.baseAddress, length)
                        case .pbkdf2SHA256(let i):
                            return PKCS5_PBKDF2_HMAC(pwChars.baseAddress, Int32(password.count), s.baseAddress, Int32(s.count), Int32(i),
                                                     EVP_sha256(), Int32(length), o.baseAddress)
                        }
                    }
                }
            }
        }
        guard ok == 1 else { throw CryptoError.openSSL("password hashing failed") }
        return out
    }
}
