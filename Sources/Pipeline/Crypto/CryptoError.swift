internal import COpenSSL

/// A key that cannot be read or used, or a failed signing operation. The message names what is
/// wrong with the key or input; it never contains key material.
public struct CryptoError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    /// `message` followed by what OpenSSL's error queue holds (the queue is emptied).
    static func openSSL(_ message: String) -> CryptoError {
        CryptoError(message + ": " + OpenSSLError.drain())
    }

    /// A key that cannot be read, said without OpenSSL's error chain (a person reads this in a config
    /// error); the chain goes to the debug log and the queue is emptied.
    static func unreadable(_ message: String) -> CryptoError {
        let chain = OpenSSLError.drainCodes().map(OpenSSLError.text)
        if !chain.isEmpty { Log.debug("OpenSSL refused a key", [("problem", message), ("openssl", chain.joined(separator: "; "))]) }
        return CryptoError(message)
    }

    public var description: String { message }
}
