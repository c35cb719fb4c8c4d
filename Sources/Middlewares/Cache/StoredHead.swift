import Pipeline

/// A stored response's head and the facts needed to judge it later: when it was stored, its age
/// then, how long it stays fresh, and the request header values it varies on.
struct StoredHead: Sendable, Equatable {
    var key: String
    var status: Int
    /// The upstream's headers without hop-by-hop fields, framing and Age (computed per answer).
    var headers: HTTPFields
    /// Body length in bytes.
    var length: Int64
    /// Wall-clock seconds when the response (or the 304 that refreshed it) arrived.
    var storedAt: Int64
    var initialAge: Int64
    var freshness: Freshness
    /// The request's values of the fields the response's Vary names ("" when absent), lower-cased names.
    var vary: [HTTPField]

    var etag: String? { headers["ETag"] }
    var lastModified: Int64? { headers["Last-Modified"].flatMap(HTTPDate.parse) }

    func age(at now: Int64) -> Int64 { initialAge + max(0, now - storedAt) }

    /// Seconds past the freshness lifetime (negative while fresh).
    func staleness(at now: Int64) -> Int64 {
        freshness.lifetime >= Freshness.forever ? -1 : age(at: now) - freshness.lifetime
    }

    func isFresh(at now: Int64) -> Bool { staleness(at: now) < 0 }

    /// Whether a response `staleness` seconds stale is within a stale window of `window` seconds
    /// (no window at all when it is 0: a response stale for 0 seconds is stale).
    func mayServeStale(_ staleness: Int64, within window: Int64) -> Bool { window > 0 && staleness <= window }

    /// Whether `request` asks for the same variant (RFC 9111 §4.1).
    func matchesVary(_ request: Request) -> Bool {
        vary.allSatisfy { Self.varyValue(request, $0.name) == $0.value }
    }

    static func varyFields(_ headers: HTTPFields, request: Request) -> [HTTPField] {
        headers.list("Vary").map { name in
            let lower = name.lowercasedASCII()
            return HTTPField(name: lower, value: varyValue(request, lower))
        }
    }

    /// The request's value of a selecting field, normalised (RFC 9111 §4.1): every line of it as one
    /// list, members trimmed of whitespace, empty members dropped, joined by ", ". So `gzip,br`,
    /// `gzip, br` and two lines `gzip` and `br` select the same variant; Accept-Language members are
    /// also lower-cased and sorted (`en, de` and `De, EN` are one variant).
    static func varyValue(_ request: Request, _ name: String) -> String {
        var members: [Substring] = []
        for line in request.headers.values(name) {
            for member in line.split(separator: ",") {
                let trimmed = member.drop { $0 == " " || $0 == "\t" }
                let end = trimmed.lastIndex { $0 != " " && $0 != "\t" }
                if let end { members.append(trimmed[...end]) }
            }
        }
        // Language tags are case-insensitive and a list without weights has no order (RFC 9110 §12.5.4).
        if name == "accept-language" { return members.map { $0.lowercasedASCII() }.sorted().joined(separator: ", ") }
        return members.joined(separator: ", ")
    }

    /// The headers kept with a response: what the upstream sent, less what describes one transfer.
    static func storableHeaders(_ headers: HTTPFields) -> HTTPFields {
        var kept = headers
        kept.removeHopByHop()
        for name in ["Content-Length", "Age", "X-Cache", "Set-Cookie", "Cache-Status"] { kept.remove(name) }
        return kept
    }

    /// Applies the fields of a 304 to the stored head (RFC 9111 §4.3.4) and restarts its freshness.
    func refreshed(with notModified: HTTPFields, policy: CachePolicy, immutable: Bool, now: Int64) -> StoredHead? {
        var merged = headers
        let incoming = Self.storableHeaders(notModified)
        var replaced: Set<String> = []
        for field in incoming {
            let name = field.name.lowercasedASCII()
            if !replaced.contains(name) {
                merged.remove(field.name)
                replaced.insert(name)
            }
            merged.append(field)
        }
        guard case .store(let freshness) = policy.decide(status: status, headers: merged, immutable: immutable, now: now) else {
            return nil
        }
        var head = self
        head.headers = merged
        head.storedAt = now
        head.initialAge = CachePolicy.initialAge(notModified, now: now)
        head.freshness = freshness
        return head
    }

    // MARK: Disk form

    var json: JSONValue {
        .object(JSONObject([
            ("key", .string(key)),
            ("status", .number(Double(status))),
            ("headers", .array(headers.map { .array([.string($0.name), .string($0.value)]) })),
            ("length", .number(Double(length))),
            ("storedAt", .number(Double(storedAt))),
            ("initialAge", .number(Double(initialAge))),
            ("lifetime", .number(Double(freshness.lifetime))),
            ("staleWhileRevalidate", .number(Double(freshness.staleWhileRevalidate))),
            ("staleIfError", .number(Double(freshness.staleIfError))),
            ("vary", .array(vary.map { .array([.string($0.name), .string($0.value)]) })),
        ]))
    }

    init(key: String, status: Int, headers: HTTPFields, length: Int64, storedAt: Int64, initialAge: Int64,
         freshness: Freshness, vary: [HTTPField]) {
        self.key = key
        self.status = status
        self.headers = headers
        self.length = length
        self.storedAt = storedAt
        self.initialAge = initialAge
        self.freshness = freshness
        self.vary = vary
    }

    /// Reads the disk form; nil for anything malformed (the file is then dropped, never guessed at).
    init?(json: JSONValue) {
        func fields(_ value: JSONValue?) -> [HTTPField]? {
            guard let items = value?.array else { return nil }
            var result: [HTTPField] = []
            for item in items {
                guard let pair = item.array, pair.count == 2, let name = pair[0].string, let value = pair[1].string else { return nil }
                result.append(HTTPField(name: name, value: value))
            }
            return result
        }
        guard let key = json["key"]?.string, let status = json["status"]?.int, let headers = fields(json["headers"]),
              let length = json["length"]?.int, length >= 0, let storedAt = json["storedAt"]?.int,
              let initialAge = json["initialAge"]?.int, let lifetime = json["lifetime"]?.int,
              let swr = json["staleWhileRevalidate"]?.int, let sie = json["staleIfError"]?.int,
              let vary = fields(json["vary"]) else { return nil }
        self.init(key: key, status: status, headers: HTTPFields(headers), length: Int64(length), storedAt: Int64(storedAt),
                  initialAge: Int64(initialAge),
                  freshness: Freshness(lifetime: Int64(lifetime), staleWhileRevalidate: Int64(swr), staleIfError: Int64(sie)),
                  vary: vary)
    }
}
