/// Short-lived signed URLs: a behaviour mints one for a single path (Terraform downloads archives,
/// provider zips and SHA256SUMS without any credentials, terraform.md §0), and every auth gate of
/// the pipeline accepts a valid one for exactly that path instead of credentials.
///
/// The signature is HMAC-SHA256 over the method, the exact raw path, the expiry and the key id.
/// It travels in three query parameters which the gate removes before the request goes on, so the
/// rest of the chain sees the clean URL. Parameters may come in any order (go-getter sorts the
/// query, terraform.md §2.3) and other parameters are left alone; `HEAD` is checked as `GET`
/// because go-getter sends HEAD before the GET of the same URL.
///
/// Keys come from the top-level `signedURLs` of pipeline.json so replicas behind a load balancer
/// accept each other's URLs: the first key signs, all verify (rotation: add the new key second,
/// roll out, move it first, later remove the old one). Without configured keys a random key of
/// this process is used, so URLs work only on the replica that made them and until it restarts.
///
/// ```swift
/// let target = signer.sign(path: "/terraform/archives/acme/vpc/1.2.0.tar.gz")
/// // "/terraform/archives/acme/vpc/1.2.0.tar.gz?gw-expires=1755351553&gw-key=k1&gw-signature=..."
/// ```
public struct URLSigner: Sendable {
    /// One HMAC key with its public name.
    public struct Key: Sendable {
        public let id: String
        let secret: [UInt8]

        public init(id: String, secret: [UInt8]) {
            self.id = id
            self.secret = secret
        }
    }

    /// The outcome of looking at a request's query.
    public enum Check: Sendable, Equatable {
        /// No signature parameters.
        case absent
        /// A valid signature made with key `keyID`; `query` is the query without the signature parameters.
        case valid(keyID: String, query: String?)
        /// Signature parameters that do not verify (tampered, expired, unknown key); the reason is for logs.
        case invalid(String)
    }

    public static let expiresParameter = "gw-expires"
    public static let keyParameter = "gw-key"
    public static let signatureParameter = "gw-signature"
    static let parameters = [expiresParameter, keyParameter, signatureParameter]

    /// The shortest secret accepted in config (bytes of the string as written).
    public static let minimumSecretBytes = 32

    public let keys: [Key]
    /// How long a minted URL stays valid unless the caller says otherwise.
    public let ttl: Duration
    /// True when no keys were configured and a random per-process key is in use.
    public let isEphemeral: Bool

    public init(keys: [Key], ttl: Duration = .seconds(300)) {
        precondition(!keys.isEmpty, "URLSigner needs at least one key")
        self.keys = keys
        self.ttl = ttl
        isEphemeral = false
    }

    private init(ephemeralTTL ttl: Duration) {
        keys = [Key(id: "local", secret: Self.processSecret)]
        self.ttl = ttl
        isEphemeral = true
    }

    /// The signer used when pipeline.json configures no keys. One secret per process, so URLs survive a reload.
    public static func ephemeral(ttl: Duration = .seconds(300)) -> URLSigner { URLSigner(ephemeralTTL: ttl) }
    private static let processSecret = SecureRandom.bytes(32)

    /// `path` with its query plus the signature parameters, valid for `ttl` (default: the signer's).
    public func sign(method: HTTPMethod = .get, path: String, query: String? = nil, ttl: Duration? = nil,
                     now: Int64 = HTTPDate.now) -> String {
        let parameters = signatureQuery(method: method, path: path, ttl: ttl, now: now)
        if let query, !query.isEmpty { return path + "?" + query + "&" + parameters }
        return path + "?" + parameters
    }

    /// Just the three parameters (`gw-expires=…&gw-key=…&gw-signature=…`), for callers that build URLs themselves.
    public func signatureQuery(method: HTTPMethod = .get, path: String, ttl: Duration? = nil, now: Int64 = HTTPDate.now) -> String {
        let expires = now + max(1, Int64((ttl ?? self.ttl).seconds.rounded(.up)))
        let key = keys[0]
        let mac = Self.mac(key: key, method: method, path: path, expires: expires)
        return "\(Self.expiresParameter)=\(expires)&\(Self.keyParameter)=\(key.id)&\(Self.signatureParameter)=\(Base64URL.encode(mac))"
    }

    /// Checks the signature parameters of `request`, if it has any.
    public func check(_ request: Request, now: Int64 = HTTPDate.now) -> Check {
        guard let query = request.query, !query.isEmpty else { return .absent }
        var found: [String: String] = [:]
        var rest: [Substring] = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentEncoding.decode(pair[0]) ?? String(pair[0])
            guard Self.parameters.contains(name) else {
                rest.append(item)
                continue
            }
            guard found[name] == nil else { return .invalid("repeated \(name)") }
            found[name] = pair.count > 1 ? (PercentEncoding.decode(pair[1]) ?? "") : ""
        }
        if found.isEmpty { return .absent }
        guard let expiresText = found[Self.expiresParameter], let keyID = found[Self.keyParameter],
              let signatureText = found[Self.signatureParameter] else {
            return .invalid("incomplete signature parameters")
        }
        guard !expiresText.isEmpty, expiresText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), expiresText.utf8.count <= 12,
              let expires = Int64(expiresText) else {
            return .invalid("bad expiry")
        }
        guard let key = keys.first(where: { $0.id == keyID }) else { return .invalid("unknown key") }
        guard let signature = Base64URL.decode(signatureText) else { return .invalid("bad signature") }
        let expected = Self.mac(key: key, method: request.method, path: request.path, expires: expires)
        // The MAC is checked before the expiry so the log says "expired" only for genuine URLs.
        guard ConstantTime.equals(signature, expected) else { return .invalid("bad signature") }
        guard now <= expires else { return .invalid("expired") }
        return .valid(keyID: key.id, query: rest.isEmpty ? nil : rest.joined(separator: "&"))
    }

    static func mac(key: Key, method: HTTPMethod, path: String, expires: Int64) -> [UInt8] {
        let signedMethod = method == .head ? HTTPMethod.get : method
        let input = "gateway-signed-url-v1\n\(signedMethod.rawValue)\n\(path)\n\(expires)\n\(key.id)"
        return HMAC.sha256(key: key.secret, data: Array(input.utf8))
    }

    /// Whether `id` is usable as a key id: 1 to 32 characters of `A-Z a-z 0-9 . _ -` (safe in a query unencoded).
    public static func isValidKeyID(_ id: String) -> Bool {
        (1...32).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            PercentEncoding.isUnreserved(byte) && byte != UInt8(ascii: "~")
        }
    }
}
