import Pipeline
import Testing
@testable import Middlewares

@Suite("cache policy: what is stored and for how long")
struct CachePolicyTests {
    let now: Int64 = 1_800_000_000

    func decide(_ headers: HTTPFields, status: Int = 200, policy: CachePolicy = CachePolicy(), immutable: Bool = false) -> CachePolicy.Decision {
        policy.decide(status: status, headers: headers, immutable: immutable, now: now)
    }

    @Test("Cache-Control directives are parsed, quoted commas included")
    func parsesDirectives() {
        let control = CacheControl(["Cache-Control": "public, max-age=60, no-cache=\"Set-Cookie, X-A\", stale-if-error=600",
                                    "cache-control": "S-MAXAGE=30"])
        #expect(control.maxAge == 60)
        #expect(control.sharedMaxAge == 30)
        #expect(control.staleIfError == 600)
        #expect(control.noCache)
        #expect(control.isPublic)
        #expect(!control.noStore)
        #expect(CacheControl(["Cache-Control": "max-age=abc"]).maxAge == nil)
        #expect(CacheControl(["Cache-Control": "max-age=99999999999999"]).maxAge == 1 << 31)
    }

    @Test("s-maxage wins over max-age, which wins over Expires")
    func lifetimeOrder() {
        #expect(decide(["Cache-Control": "max-age=60, s-maxage=10"]) == .store(Freshness(lifetime: 10, staleWhileRevalidate: 0, staleIfError: 0)))
        let date = HTTPDate.format(now), expires = HTTPDate.format(now + 300)
        #expect(decide(["Date": date, "Expires": expires, "Cache-Control": "max-age=60"])
                == .store(Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(decide(["Date": date, "Expires": expires]) == .store(Freshness(lifetime: 300, staleWhileRevalidate: 0, staleIfError: 0)))
        // An invalid Expires means already expired: stored only because it has a validator.
        #expect(decide(["Expires": "0", "ETag": "\"a\""]) == .store(Freshness(lifetime: 0, staleWhileRevalidate: 0, staleIfError: 0)))
    }

    @Test("without explicit freshness, 10% of the time since Last-Modified, capped at a day")
    func heuristic() {
        let headers: HTTPFields = ["Date": HTTPDate.format(now), "Last-Modified": HTTPDate.format(now - 1000)]
        #expect(decide(headers) == .store(Freshness(lifetime: 100, staleWhileRevalidate: 0, staleIfError: 0)))
        let old: HTTPFields = ["Date": HTTPDate.format(now), "Last-Modified": HTTPDate.format(now - 100 * 86_400)]
        #expect(decide(old) == .store(Freshness(lifetime: 86_400, staleWhileRevalidate: 0, staleIfError: 0)))
    }

    @Test("no-store, private, Set-Cookie, Vary * and uncacheable statuses are never stored")
    func neverStored() {
        #expect(decide(["Cache-Control": "no-store, max-age=60"]) == .skip("no-store"))
        #expect(decide(["Cache-Control": "private, max-age=60"]) == .skip("private"))
        #expect(decide(["Cache-Control": "max-age=60", "Set-Cookie": "s=1"]) == .skip("set-cookie"))
        #expect(decide(["Cache-Control": "max-age=60", "Vary": "Accept, *"]) == .skip("vary *"))
        #expect(decide(["ETag": "\"a\""], status: 500) == .skip("status 500"))
        #expect(decide(["Cache-Control": "max-age=60"], status: 206) == .skip("status 206"))
        #expect(decide([:]) == .skip("no freshness and no validator"))
        var ttl = CachePolicy()
        ttl.ttl = 3600
        #expect(decide(["Cache-Control": "no-store"], policy: ttl) == .skip("no-store"))
    }

    @Test("ttl overrides max-age and no-cache for 2xx, but not for a 404")
    func ttlOverrides() {
        var policy = CachePolicy()
        policy.ttl = 3600
        #expect(decide(["Cache-Control": "max-age=5"], policy: policy) == .store(Freshness(lifetime: 3600, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(decide(["Cache-Control": "no-cache"], policy: policy) == .store(Freshness(lifetime: 3600, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(decide(["Cache-Control": "max-age=5"], status: 404, policy: policy) == .store(Freshness(lifetime: 5, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(decide([:], status: 404, policy: policy) == .skip("no freshness and no validator"))
    }

    @Test("stale-* come from the response or the stack; must-revalidate and s-maxage forbid serving stale")
    func staleWindows() {
        var policy = CachePolicy()
        policy.staleIfError = 50
        #expect(decide(["Cache-Control": "max-age=1, stale-while-revalidate=7"], policy: policy)
                == .store(Freshness(lifetime: 1, staleWhileRevalidate: 7, staleIfError: 50)))
        #expect(decide(["Cache-Control": "max-age=1, stale-if-error=9, must-revalidate"], policy: policy)
                == .store(Freshness(lifetime: 1, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(decide(["Cache-Control": "s-maxage=1, stale-if-error=9"], policy: policy)
                == .store(Freshness(lifetime: 1, staleWhileRevalidate: 0, staleIfError: 0)))
    }

    @Test("immutable objects (a behaviour's cacheKey) are fresh forever")
    func immutable() {
        #expect(decide(["Cache-Control": "no-cache"], immutable: true)
                == .store(Freshness(lifetime: Freshness.forever, staleWhileRevalidate: 0, staleIfError: 0)))
        let head = StoredHead(key: "k", status: 200, headers: [:], length: 0, storedAt: 0, initialAge: 0,
                              freshness: Freshness(lifetime: Freshness.forever, staleWhileRevalidate: 0, staleIfError: 0), vary: [])
        #expect(head.isFresh(at: Int64(Int32.max) * 4))
    }

    @Test("age counts the Age header or the time since Date, whichever is larger, plus time stored")
    func age() {
        #expect(CachePolicy.initialAge(["Date": HTTPDate.format(now - 30), "Age": "10"], now: now) == 30)
        #expect(CachePolicy.initialAge(["Date": HTTPDate.format(now), "Age": "10"], now: now) == 10)
        let head = StoredHead(key: "k", status: 200, headers: [:], length: 0, storedAt: now, initialAge: 10,
                              freshness: Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0), vary: [])
        #expect(head.age(at: now + 40) == 50)
        #expect(head.isFresh(at: now + 49))
        #expect(!head.isFresh(at: now + 50))
        #expect(head.staleness(at: now + 55) == 5)
    }

    @Test("a 304 replaces the stored fields it names and restarts freshness")
    func refresh() {
        let head = StoredHead(key: "k", status: 200, headers: ["ETag": "\"v1\"", "Cache-Control": "max-age=10", "Content-Type": "text/plain"],
                              length: 3, storedAt: now - 100, initialAge: 0,
                              freshness: Freshness(lifetime: 10, staleWhileRevalidate: 0, staleIfError: 0), vary: [])
        let refreshed = head.refreshed(with: ["Cache-Control": "max-age=20", "Connection": "close", "Content-Length": "0"],
                                       policy: CachePolicy(), immutable: false, now: now)
        #expect(refreshed?.headers["Cache-Control"] == "max-age=20")
        #expect(refreshed?.headers["Content-Type"] == "text/plain")
        #expect(refreshed?.headers["Connection"] == nil)
        #expect(refreshed?.freshness.lifetime == 20)
        #expect(refreshed?.isFresh(at: now + 19) == true)
        #expect(head.refreshed(with: ["Cache-Control": "no-store"], policy: CachePolicy(), immutable: false, now: now) == nil)
    }

    @Test("the disk form of a head reads back identically; malformed forms are refused")
    func headRoundTrip() throws {
        let head = StoredHead(key: "GET h/p?q", status: 404, headers: ["A": "1", "a": "2", "B": "ü"], length: 1 << 40, storedAt: now,
                              initialAge: 3, freshness: Freshness(lifetime: 5, staleWhileRevalidate: 6, staleIfError: 7),
                              vary: [HTTPField(name: "accept", value: "x")])
        let parsed = try JSONParser.parse(head.json.serialized())
        #expect(StoredHead(json: parsed) == head)
        #expect(StoredHead(json: try JSONParser.parse("{\"key\": \"k\"}")) == nil)
    }

    @Test("the key is method, host, path, query and the configured headers; a behaviour's cacheKey replaces the URL")
    func keys() {
        let a = Request(method: .get, authority: "Example.com:8080", path: "/a", query: "x=1", headers: ["Accept": "json"])
        let head = Request(method: .head, authority: "example.com", path: "/a", query: "x=1", headers: ["Accept": "xml"])
        #expect(CacheKey(a, keyHeaders: []) == CacheKey(head, keyHeaders: []))
        #expect(CacheKey(a, keyHeaders: ["accept"]) != CacheKey(head, keyHeaders: ["accept"]))
        #expect(CacheKey(a, keyHeaders: []) != CacheKey(Request(authority: "example.com", path: "/a"), keyHeaders: []))
        var prepared = a
        prepared.upstream = UpstreamOptions(cacheKey: "github:acme/vpc@abc.tar.gz", immutable: true)
        prepared.query = "token=expiring"
        #expect(CacheKey(prepared, keyHeaders: []).text == "GET upstream:github:acme/vpc@abc.tar.gz")
        #expect(CacheKey(a, keyHeaders: []).digest.utf8.count == 64)
    }
}
