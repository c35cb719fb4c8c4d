internal import COpenSSL

/// The OpenSSL error queue, drained into one line.
enum OpenSSLError {
    static func drain() -> String {
        let codes = drainCodes()
        return codes.isEmpty ? "unknown OpenSSL error" : codes.map(text).joined(separator: "; ")
    }

    /// Every queued error code, oldest first, leaving the queue empty.
    static func drainCodes() -> [UInt] {
        var codes: [UInt] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            codes.append(code)
        }
        return codes
    }

    /// `error:0480006C:PEM routines::no start line`
    static func text(_ code: UInt) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
