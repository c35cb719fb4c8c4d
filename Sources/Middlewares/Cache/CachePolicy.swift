import Pipeline

/// How long a stored response stays fresh and how long past that it may still be served,
/// fixed when the response is stored (or refreshed by a 304).
struct Freshness: Equatable, Sendable {
    /// Seconds the response is fresh for, counted from its age at storage.
    var lifetime: Int64
    /// Seconds past `lifetime` during which it is served while one request revalidates it.
    var staleWhileRevalidate: Int64
    /// Seconds past `lifetime` during which it is served when the upstream fails.
    var staleIfError: Int64

    /// A lifetime long enough to mean "never stale" (immutable objects) without overflowing sums.
    static let forever: Int64 = 1 << 50
}

/// What one cache stack decided about storing and reusing responses: the upstream's Cache-Control,
/// Expires and validators, overridden where the stack's options say so.
struct CachePolicy: Sendable {
    /// Replaces the upstream's freshness lifetime (max-age, s-maxage, Expires, no-cache) for
    /// the statuses in `ttlStatuses`; no-store, private and Set-Cookie still keep a response out.
    var ttl: Int64?
    /// Used when the response gives no stale-while-revalidate.
    var staleWhileRevalidate: Int64 = 0
    /// Used when the response gives no stale-if-error.
    var staleIfError: Int64 = 0
    /// Whether responses to requests with credentials (Authorization, or an identity set by auth) are
    /// stored whatever they say; without it only those marked `public`, `s-maxage` or
    /// `must-revalidate` are (RFC 9111 §3.5).
    var cacheAuthenticated = false
    /// Targeted fields (RFC 9213), in precedence order, that replace Cache-Control for this cache.
    var targetedFields: [String] = ["Gateway-Cache-Control", "CDN-Cache-Control"]

    /// Statuses whose responses may be stored without explicit freshness (RFC 9110 §15.1
    /// "heuristically cacheable"). Any other final status is stored when it has explicit freshness
    /// (max-age, s-maxage, Expires) or is marked `public` (RFC 9111 §3).
    static let heuristicStatuses: Set<Int> = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]
    /// Final statuses of RFC 9110 whose caching rules this cache implements (for `must-understand`):
    /// every one but 206, which it never stores.
    static let understoodStatuses: Set<Int> = [200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 304, 305, 307, 308,
                                               400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
                                               416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505]
    /// Statuses the `ttl` option applies to: the success and permanent-redirect answers. An error such as 404
    /// is kept only as long as the upstream says, so a transient miss is not pinned for a whole ttl.
    static let ttlStatuses: Set<Int> = [200, 203, 204, 300, 301, 308]
    /// Upper bound for heuristic freshness (RFC 9111 §4.2.2 suggests 10% of the time since Last-Modified).
    static let heuristicCap: Int64 = 86_400

    enum Decision: Equatable {
        case store(Freshness)
        /// Not stored; the reason goes to the access log.
        case skip(String)
    }

    /// Whether a response may be stored, and for how long it is fresh.
    /// `authorized`: the request carried credentials and the stack does not set `cacheAuthenticated`.
    func decide(status: Int, headers: HTTPFields, immutable: Bool, now: Int64, authorized: Bool = false) -> Decision {
        // The cache always asks for the whole object, so a 206 is never one it can store; 304 refreshes.
        guard status >= 200, status <= 599, status != 206, status != 304 else { return .skip("status \(status)") }
        let (control, targeted) = CacheControl.effective(headers, targeted: targetedFields)
        // must-understand: a status whose caching rules this cache follows may ignore no-store (RFC 9111 §5.2.2.3);
        // any other status is then not stored at all.
        if control.mustUnderstand, !Self.understoodStatuses.contains(status) { return .skip("must-understand") }
        if control.noStore, !(control.mustUnderstand && Self.understoodStatuses.contains(status)) { return .skip("no-store") }
        // A shared cache never stores what the upstream marked for one user (RFC 9111 §5.2.2.7).
        if control.isPrivate { return .skip("private") }
        // A cookie belongs to the one client it was set for; replaying it to others would hand out sessions.
        if headers.contains("Set-Cookie") { return .skip("set-cookie") }
        if headers.list("Vary").contains("*") { return .skip("vary *") }
        // A response to a request with credentials is shared only when it says so (RFC 9111 §3.5).
        if authorized, !(control.isPublic || control.sharedMaxAge != nil || control.mustRevalidate) { return .skip("authorization") }
        let expires = targeted ? [] : headers.values("Expires")
        let explicit = control.sharedMaxAge != nil || control.maxAge != nil || !expires.isEmpty
        let ttlApplies = ttl != nil && Self.ttlStatuses.contains(status)
        if !explicit, !ttlApplies, !immutable, !control.isPublic, !Self.heuristicStatuses.contains(status) {
            return .skip("status \(status)")
        }

        var lifetime: Int64
        if immutable {
            lifetime = Freshness.forever
        } else if let ttl, ttlApplies {
            lifetime = ttl
        } else if control.noCache {
            lifetime = 0
        } else if let shared = control.sharedMaxAge {
            lifetime = shared
        } else if let maxAge = control.maxAge {
            lifetime = maxAge
        } else if !expires.isEmpty {
            // An invalid Expires means "already expired" (RFC 9111 §5.3); so do two of them.
            let date = headers["Date"].flatMap(HTTPDate.parse) ?? now
            lifetime = expires.count == 1 ? HTTPDate.parse(expires[0]).map { max(0, $0 - date) } ?? 0 : 0
        } else if let modified = headers["Last-Modified"].flatMap(HTTPDate.parse) {
            let date = headers["Date"].flatMap(HTTPDate.parse) ?? now
            lifetime = min(Self.heuristicCap, max(0, date - modified) / 10)
        } else {
            lifetime = 0
        }
        let hasValidator = headers["ETag"] != nil || headers["Last-Modified"] != nil
        if lifetime == 0 && !hasValidator { return .skip("no freshness and no validator") }

        var freshness = Freshness(lifetime: lifetime,
                                  staleWhileRevalidate: control.staleWhileRevalidate ?? staleWhileRevalidate,
                                  staleIfError: control.staleIfError ?? staleIfError)
        // must-revalidate, proxy-revalidate and s-maxage forbid serving it stale (RFC 9111 §5.2.2.2, §5.2.2.10),
        // and so does no-cache (every reuse is validated first, §5.2.2.4) unless `ttl` replaced it.
        if control.mustRevalidate || control.proxyRevalidate || control.sharedMaxAge != nil || (control.noCache && !ttlApplies && !immutable) {
            freshness.staleWhileRevalidate = 0
            freshness.staleIfError = 0
        }
        return .store(freshness)
    }

    /// The response's age when it arrived: the larger of its Age header and the time since its Date
    /// (RFC 9111 §4.2.3, with the response arriving `now`).
    static func initialAge(_ headers: HTTPFields, now: Int64) -> Int64 {
        let apparent = headers["Date"].flatMap(HTTPDate.parse).map { max(0, now - $0) } ?? 0
        return max(apparent, declaredAge(headers) ?? 0)
    }

    /// The Age header's value: the first member when it is a list (`Age: 7200, 0`) or repeated; nil
    /// when absent or not delta-seconds (`-1`, `1.5`, `a7200` are ignored, as RFC 9111 §5.1 allows).
    static func declaredAge(_ headers: HTTPFields) -> Int64? {
        guard let first = headers.values("Age").first else { return nil }
        let member = first.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return CacheControl.seconds(member.trimmingASCIIWhitespace())
    }

    /// Whether a request carries credentials: its responses are stored only when they say they may be
    /// shared (`public`, `s-maxage`, `must-revalidate`, RFC 9111 §3.5) or with `cacheAuthenticated`,
    /// because the stack's auth, not the upstream, decided who may read them.
    /// An object a behaviour asked for by identity (`UpstreamOptions.cacheKey`: a release asset, a
    /// tarball of a commit) is not a client's request: its Authorization is the source's own
    /// credential, and who may have the object was decided before the behaviour asked for it.
    static func hasCredentials(_ request: Request, _ context: Context) -> Bool {
        if request.upstream?.cacheKey != nil { return false }
        return request.headers.contains("Authorization") || context.identity != nil
    }
}
