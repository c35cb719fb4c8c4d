/// An issuer's signing keys by `kid`, read from a JWKS document (RFC 7517 §5). Keys of types this
/// code cannot use (or too weak) are left out rather than failing the whole set; a key whose own
/// `alg` names another algorithm is never used for that one.
public struct JWKSet: Sendable {
    struct Entry: Sendable {
        let key: PublicKey
        let algorithm: String?
    }

    let entries: [String: Entry]
    /// Keys listed without a `kid`.
    let anonymous: [Entry]
    /// Why keys were skipped, for the log (`kid: reason`).
    public let skipped: [String]

    public init(_ document: JSONValue) throws(JWTError) {
        guard case .array(let keys)? = document["keys"] else { throw .malformed("JWKS has no \"keys\" array") }
        var entries: [String: Entry] = [:], anonymous: [Entry] = [], skipped: [String] = []
        for jwk in keys {
            let kid = jwk["kid"]?.string
            do {
                let entry = Entry(key: try PublicKey(jwk: jwk), algorithm: jwk["alg"]?.string)
                if let kid { entries[kid] = entry } else { anonymous.append(entry) }
            } catch {
                skipped.append("\(kid ?? "(no kid)"): \(error)")
            }
        }
        self.entries = entries
        self.anonymous = anonymous
        self.skipped = skipped
    }

    public var count: Int { entries.count + anonymous.count }

    /// The key for `id`. A token without `kid` may use the set's only key; it never picks among
    /// several (trying every key is a known pitfall).
    public func key(id: String?, algorithm: SignatureAlgorithm) -> PublicKey? {
        let entry: Entry?
        if let id {
            entry = entries[id]
        } else {
            entry = count == 1 ? (anonymous.first ?? entries.values.first) : nil
        }
        guard let entry, entry.algorithm == nil || entry.algorithm == algorithm.rawValue,
              entry.key.algorithms.contains(algorithm) else { return nil }
        return entry.key
    }

    /// Whether the set lists `id` at all.
    public func contains(id: String) -> Bool { entries[id] != nil }
}
