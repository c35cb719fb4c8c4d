internal import COpenSSL

/// Comparison of secrets whose duration does not depend on where they differ.
public enum ConstantTime {
    /// True when `a` and `b` hold the same bytes. Only the lengths leak; callers compare digests
    /// of fixed length when even the length is secret.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        let x = Array(a), y = Array(b)
        guard x.count == y.count else { return false }
        if x.isEmpty { return true }
        return x.withUnsafeBytes { xp in y.withUnsafeBytes { yp in CRYPTO_memcmp(xp.baseAddress, yp.baseAddress, x.count) == 0 } }
    }
}
