internal import COpenSSL

/// Reads everything a memory BIO holds.
enum MemoryBIO {
    static func read(_ bio: OpaquePointer) -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(bio))
        var out = [UInt8](repeating: 0, count: pending)
        let count = out.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(pending)) }
        return Array(out.prefix(max(0, Int(count))))
    }
}
