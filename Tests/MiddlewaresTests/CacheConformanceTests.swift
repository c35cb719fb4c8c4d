import Foundation
import Pipeline
import Synchronization
import Testing
@testable import Middlewares

/// The RFC 9111 points of issue 15, each against the cache middleware or its policy directly.
@Suite("cache conformance: Age, dates, statuses, variants, background revalidation, targeted fields, Cache-Status")
struct CacheConformanceTests {
    let now: Int64 = 1_800_000_000

    func makeCache(policy: CachePolicy = CachePolicy(), downstream: Downstream? = nil, statusKey: Bool = false) -> Cache {
        let store = CacheStore(name: "test", memory: MemoryStore(budget: 1 << 20, maxObjectBytes: 1 << 17), disk: nil, maxObjectBytes: 1 << 17)
        return Cache(store: store, policy: policy, keyHeaders: [], xCache: true, statusKey: statusKey, downstream: downstream)
    }

    /// An upstream answering from a closure, counting calls.
    final class Origin: Sendable {
        let calls = Atomic<Int>(0)
        let respond: @Sendable (Int, Request) async throws -> Response
        init(_ respond: @escaping @Sendable (Int, Request) async throws -> Response) { self.respond = respond }
        var next: Next {
            { [self] request, _ in try await respond(calls.add(1, ordering: .relaxed).newValue, request) }
        }
        var count: Int { calls.load(ordering: .relaxed) }
    }

    static func ok(_ body: String, _ headers: HTTPFields, status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: headers, body: ResponseBody(bytes: Array(body.utf8)))
    }

    func get(_ cache: Cache, _ origin: Origin, _ path: String = "/o", headers: HTTPFields = [:]) async throws -> (Response, String?) {
        let response = try await cache.handle(Request(authority: "e", path: path, headers: headers), context: Context(requestID: "t"),
                                              next: origin.next)
        let writer = CollectingWriter()
        do {
            try await response.body.write(to: writer)
            return (response, String(decoding: writer.bytes, as: UTF8.self))
        } catch {
            return (response, nil)
        }
    }

    /// Waits until the fill of `path` is stored (it completes just after its last reader).
    func stored(_ cache: Cache, count: Int = 1) async {
        while cache.store.memory.usage.entries < count { await Task.yield() }
    }

    // MARK: Age

    @Test("the Age the origin sent reaches the client on a miss, and a list-valued Age counts by its first member")
    func ageOnMiss() async throws {
        let cache = makeCache()
        let origin = Origin { _, _ in Self.ok("a", ["Cache-Control": "max-age=3600", "Age": "30"]) }
        let (miss, _) = try await get(cache, origin)
        #expect(miss.headers["Age"] == "30")
        #expect(miss.headers["X-Cache"] == "MISS")
        await stored(cache)
        let (hit, _) = try await get(cache, origin)
        #expect(hit.headers["X-Cache"] == "HIT")
        #expect(Int(hit.headers["Age"] ?? "") ?? 0 >= 30)

        // No Age from the origin: none is invented on the miss (it would say the answer came from a cache).
        let plain = Origin { _, _ in Self.ok("b", ["Cache-Control": "max-age=3600"]) }
        #expect(try await get(cache, plain, "/plain").0.headers["Age"] == nil)

        // `Age: 7200, 0` is 7200 seconds old: past max-age=3600, so stale at once and fetched again.
        #expect(CachePolicy.initialAge(["Age": "7200, 0"], now: now) == 7200)
        #expect(CachePolicy.initialAge(["Age": "a7200"], now: now) == 0)
        #expect(CachePolicy.initialAge(["Age": "1.5"], now: now) == 0)
        let old = Origin { _, _ in Self.ok("c", ["Cache-Control": "max-age=3600", "Age": "7200, 0", "ETag": "\"c\""]) }
        _ = try await get(cache, old, "/old")
        await stored(cache, count: 3)
        let (again, _) = try await get(cache, old, "/old")
        #expect(again.headers["X-Cache"] != "HIT")
        #expect(old.count == 2)
    }

    // MARK: Dates

    @Test("HTTP dates: IMF-fixdate strictly, RFC 850 and asctime accepted, names in any case")
    func dates() {
        let expected: Int64 = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == expected)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == expected)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == expected)
        #expect(HTTPDate.parse("Sun Nov 16 08:49:37 1994") == expected + 10 * 86_400)
        #expect(HTTPDate.parse("sun, 06 nov 1994 08:49:37 gmt") == expected)
        #expect(HTTPDate.parse("SUN, 06 NOV 1994 08:49:37 GMT") == expected)
        #expect(HTTPDate.parse(HTTPDate.format(now)) == now)
        for malformed in ["Sun, 06 Nov 1994 8:49:37 GMT", "Sun, 06 Nov 1994  08:49:37 GMT", "Sun 06 Nov 1994 08:49:37 GMT",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                          "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "0", "", "-1",
                          "Sun, 06 Nov 1994 08:49:37 GMT ", "Sun,  06 Nov 1994 08:49:37 GMT"] {
            #expect(HTTPDate.parse(malformed) == nil, "\(malformed)")
        }
    }

    @Test("an invalid Expires (malformed, or two of them) is already expired; the obsolete forms give freshness")
    func expires() {
        let policy = CachePolicy()
        let date = HTTPDate.format(now)
        func lifetime(_ fields: HTTPFields) -> Int64? {
            if case .store(let freshness) = policy.decide(status: 200, headers: fields, immutable: false, now: now) { return freshness.lifetime }
            return nil
        }
        // A date one hour ahead in each form.
        var t = now + 3600
        let fixdate = HTTPDate.format(t)
        #expect(lifetime(["Date": date, "Expires": fixdate]) == 3600)
        let parts = fixdate.split(separator: " ")  // Www, DD Mmm YYYY HH:MM:SS GMT
        let weekday = ["Sun": "Sunday", "Mon": "Monday", "Tue": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday", "Fri": "Friday",
                       "Sat": "Saturday"][String(parts[0].dropLast())]!
        let rfc850 = "\(weekday), \(parts[1])-\(parts[2])-\(parts[3].suffix(2)) \(parts[4]) GMT"
        #expect(lifetime(["Date": date, "Expires": rfc850]) == 3600)
        let day = Int(parts[1])!
        let asctime = "\(parts[0].dropLast()) \(parts[2]) \(day < 10 ? " \(day)" : "\(day)") \(parts[4]) \(parts[3])"
        #expect(lifetime(["Date": date, "Expires": asctime]) == 3600)
        #expect(lifetime(["Date": date, "Expires": fixdate.lowercased()]) == 3600)
        // Malformed future dates: expired, so stored only with a validator, and stale at once.
        t = now + 86_400
        let future = HTTPDate.format(t)
        let oneDigitHour = future.replacingOccurrences(of: " 0", with: " ", range: future.range(of: " 0\\d:", options: .regularExpression))
        for bad in [oneDigitHour, future.replacingOccurrences(of: ", ", with: " "), future.replacingOccurrences(of: " GMT", with: "  GMT")] {
            #expect(bad != future)
            #expect(lifetime(["Date": date, "Expires": bad, "ETag": "\"x\""]) == 0, "\(bad)")
            #expect(policy.decide(status: 200, headers: ["Date": date, "Expires": bad], immutable: false, now: now)
                    == .skip("no freshness and no validator"), "\(bad)")
        }
        var twice: HTTPFields = ["Date": date, "Expires": future, "ETag": "\"x\""]
        twice.append("Expires", future)
        #expect(lifetime(twice) == 0)
    }

    // MARK: Statuses

    @Test("any final status is stored with explicit freshness; only the heuristically cacheable ones without it")
    func statuses() {
        let policy = CachePolicy()
        func decide(_ status: Int, _ fields: HTTPFields) -> CachePolicy.Decision {
            policy.decide(status: status, headers: fields, immutable: false, now: now)
        }
        let fresh = CachePolicy.Decision.store(Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0))
        for status in [200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 410, 500, 502, 503, 504, 299, 599] {
            #expect(decide(status, ["Cache-Control": "max-age=60"]) == fresh, "\(status)")
            #expect(decide(status, ["Cache-Control": "s-maxage=60"]) == fresh, "\(status)")
        }
        #expect(decide(302, ["Date": HTTPDate.format(now), "Expires": HTTPDate.format(now + 60)]) == fresh)
        // Heuristic freshness (Last-Modified) only for the statuses RFC 9110 §15.1 names, or when public.
        let modified: HTTPFields = ["Date": HTTPDate.format(now), "Last-Modified": HTTPDate.format(now - 600)]
        let heuristic = CachePolicy.Decision.store(Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0))
        for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] { #expect(decide(status, modified) == heuristic, "\(status)") }
        for status in [302, 303, 307, 400, 500, 503] { #expect(decide(status, modified) == .skip("status \(status)"), "\(status)") }
        var publicModified = modified
        publicModified["Cache-Control"] = "public"
        #expect(decide(302, publicModified) == heuristic)
        // Never: interim and partial answers, or a 304 (it refreshes, see revalidation).
        #expect(decide(206, ["Cache-Control": "max-age=60"]) == .skip("status 206"))
        #expect(decide(304, ["Cache-Control": "max-age=60"]) == .skip("status 304"))
        #expect(decide(100, ["Cache-Control": "max-age=60"]) == .skip("status 100"))
    }

    @Test("a 500 with max-age is stored and answered; a stale entry still stands in for a 503 within stale-if-error")
    func serverErrorsWithFreshness() async throws {
        let cache = makeCache()
        let origin = Origin { call, _ in
            call == 1 ? Self.ok("broken", ["Cache-Control": "max-age=60"], status: .internalServerError)
                : Self.ok("x", ["Cache-Control": "no-store"])
        }
        let (first, _) = try await get(cache, origin)
        #expect(first.status == .internalServerError)
        await stored(cache)
        let (second, body) = try await get(cache, origin)
        #expect(second.status == .internalServerError && second.headers["X-Cache"] == "HIT" && body == "broken")
        #expect(origin.count == 1)

        let fallback = makeCache()
        let flaky = Origin { call, _ in
            call == 1 ? Self.ok("good", ["Cache-Control": "max-age=0, stale-if-error=60", "ETag": "\"g\""])
                : Self.ok("down", ["Cache-Control": "max-age=60"], status: .serviceUnavailable)
        }
        _ = try await get(fallback, flaky)
        await stored(fallback)
        let (stale, staleBody) = try await get(fallback, flaky)
        #expect(stale.status == .ok && staleBody == "good")
        #expect(stale.headers["Cache-Status"]?.hasPrefix("gateway; fwd=stale; fwd-status=503; ttl=") == true)
        #expect(stale.headers["Cache-Status"]?.hasSuffix("; detail=\"stale-if-error\"") == true)
    }

    // MARK: Variants

    @Test("several Vary variants of one URL are kept side by side, selected by normalised header values")
    func variants() async throws {
        let cache = makeCache()
        let origin = Origin { _, request in
            Self.ok(request.headers["Accept"] ?? "none", ["Cache-Control": "max-age=60", "Vary": "Accept"])
        }
        _ = try await get(cache, origin, headers: ["Accept": "json"])
        await stored(cache)
        let (xmlMiss, _) = try await get(cache, origin, headers: ["Accept": "xml"])
        #expect(xmlMiss.headers["Cache-Status"]?.hasPrefix("gateway; fwd=vary-miss; stored") == true)
        await stored(cache, count: 2)
        let (json, jsonBody) = try await get(cache, origin, headers: ["Accept": "json"])
        let (xml, xmlBody) = try await get(cache, origin, headers: ["Accept": "xml"])
        #expect(json.headers["X-Cache"] == "HIT" && jsonBody == "json")
        #expect(xml.headers["X-Cache"] == "HIT" && xmlBody == "xml")
        #expect(origin.count == 2)
        // Whitespace and line splits do not make a new variant.
        _ = try await get(cache, origin, headers: ["Accept": "a,b"])
        await stored(cache, count: 3)
        var split: HTTPFields = ["Accept": "a"]
        split.append("Accept", " b ")
        #expect(try await get(cache, origin, headers: ["Accept": "a ,  b"]).0.headers["X-Cache"] == "HIT")
        #expect(try await get(cache, origin, headers: split).0.headers["X-Cache"] == "HIT")
        #expect(origin.count == 3)
        // A successful unsafe request forgets every variant of the URL.
        _ = try await cache.handle(Request(method: .post, authority: "e", path: "/o"), context: Context(requestID: "p"), next: origin.next)
        #expect(cache.store.memory.usage.entries == 0)
        #expect(try await get(cache, origin, headers: ["Accept": "json"]).0.headers["X-Cache"] == "MISS")
    }

    @Test("variants kept on disk are found again by a new store on the same directory (a reload or a restart)")
    func variantsOnDisk() async throws {
        let directory = "/tmp/cache-variants-" + SecureRandom.hex(6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let disk = try DiskStore.open(directory: directory, budget: 1 << 20)
        func cache() -> Cache {
            Cache(store: CacheStore(name: "d", memory: MemoryStore(budget: 0, maxObjectBytes: 0), disk: disk, maxObjectBytes: 1 << 17),
                  policy: CachePolicy(), keyHeaders: [], xCache: true)
        }
        let origin = Origin { _, request in
            Self.ok(request.headers["Accept-Language"] ?? "none", ["Cache-Control": "max-age=60", "Vary": "accept-language"])
        }
        let first = cache()
        for language in ["en", "fr"] {
            _ = try await get(first, origin, headers: ["Accept-Language": language])
            while disk.usage.entries < (language == "en" ? 1 : 2) { await Task.yield() }
        }
        let second = cache()
        let (fr, frBody) = try await get(second, origin, headers: ["Accept-Language": "fr"])
        let (en, enBody) = try await get(second, origin, headers: ["Accept-Language": "en"])
        #expect(fr.headers["X-Cache"] == "HIT" && frBody == "fr")
        #expect(en.headers["X-Cache"] == "HIT" && enBody == "en")
        #expect(origin.count == 2)
    }

    // MARK: Background revalidation

    @Test("stale-while-revalidate answers at once from the stale entry and refreshes it once in the background")
    func backgroundRevalidation() async throws {
        let gate = Gate()
        let origin = Origin { call, request in
            if call == 1 { return Self.ok("old", ["Cache-Control": "max-age=1, stale-while-revalidate=600", "ETag": "\"v1\"", "Age": "5"]) }
            #expect(request.headers["If-None-Match"] == "\"v1\"")
            await gate.wait()
            return Self.ok("new", ["Cache-Control": "max-age=600", "ETag": "\"v2\""])
        }
        let cache = makeCache(downstream: Downstream(next: origin.next))
        _ = try await get(cache, origin)
        await stored(cache)
        // The refresh is held at the origin, yet these answers come at once, from the stale entry.
        for _ in 0..<3 {
            let (stale, body) = try await get(cache, origin)
            #expect(body == "old")
            #expect(stale.headers["X-Cache"] == "STALE")
            #expect(stale.headers["ETag"] == "\"v1\"")
            let status = try #require(stale.headers["Cache-Status"])
            #expect(status.hasPrefix("gateway; hit; ttl=-"), "\(status)")
        }
        while origin.count < 2 { await Task.yield() }
        #expect(origin.count == 2, "one refresh, however many stale answers")
        gate.open()
        while cache.store.lookup("GET e/o")?.head.etag != "\"v2\"" { await Task.yield() }
        let (fresh, body) = try await get(cache, origin)
        #expect(body == "new" && fresh.headers["X-Cache"] == "HIT")
        #expect(origin.count == 2)
    }

    @Test("without a stale-while-revalidate window an entry stale for 0 seconds is revalidated, not served stale")
    func noWindowNoStale() async throws {
        let origin = Origin { call, _ in
            call == 1 ? Self.ok("v", ["ETag": "\"v\"", "Cache-Control": "max-age=0"])
                : Response(status: .notModified, headers: ["ETag": "\"v\"", "Cache-Control": "max-age=0"])
        }
        let cache = makeCache(downstream: Downstream(next: origin.next))
        _ = try await get(cache, origin)
        await stored(cache)
        let (second, body) = try await get(cache, origin)
        #expect(body == "v" && second.headers["X-Cache"] == "HIT")
        #expect(second.headers["Cache-Status"]?.hasPrefix("gateway; fwd=stale; fwd-status=304") == true)
        #expect(origin.count == 2)
    }

    // MARK: Authorization

    @Test("answers to requests with Authorization are shared only when public, s-maxage or must-revalidate")
    func authorization() async throws {
        let credentials: HTTPFields = ["Authorization": "Bearer x"]
        for (control, shared) in [("max-age=60", false), ("public, max-age=60", true), ("s-maxage=60", true),
                                  ("max-age=60, must-revalidate", true)] {
            let cache = makeCache()
            let origin = Origin { _, _ in Self.ok("p", ["Cache-Control": control]) }
            _ = try await get(cache, origin, headers: credentials)
            if shared { await stored(cache) }
            let (second, _) = try await get(cache, origin, headers: credentials)
            let (anonymous, _) = try await get(cache, origin)
            #expect((second.headers["X-Cache"] == "HIT") == shared, "\(control)")
            #expect((anonymous.headers["X-Cache"] == "HIT") == shared, "\(control)")
            #expect(origin.count == (shared ? 1 : 3), "\(control)")
        }
        var everything = CachePolicy()
        everything.cacheAuthenticated = true
        #expect(everything.decide(status: 200, headers: ["Cache-Control": "max-age=60"], immutable: false, now: now, authorized: false)
                == .store(Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(CachePolicy().decide(status: 200, headers: ["Cache-Control": "max-age=60"], immutable: false, now: now, authorized: true)
                == .skip("authorization"))
    }

    // MARK: Targeted fields

    @Test("Gateway-Cache-Control, then CDN-Cache-Control, replace Cache-Control and Expires, and are not passed on")
    func targetedFields() async throws {
        let policy = CachePolicy()
        func lifetime(_ fields: HTTPFields) -> CachePolicy.Decision {
            policy.decide(status: 200, headers: fields, immutable: false, now: now)
        }
        let sixty = CachePolicy.Decision.store(Freshness(lifetime: 60, staleWhileRevalidate: 0, staleIfError: 0))
        #expect(lifetime(["Cache-Control": "no-store", "CDN-Cache-Control": "max-age=60"]) == sixty)
        #expect(lifetime(["Cache-Control": "max-age=5", "CDN-Cache-Control": "max-age=9", "Gateway-Cache-Control": "max-age=60"]) == sixty)
        #expect(lifetime(["Cache-Control": "max-age=60", "CDN-Cache-Control": "no-store"]) == .skip("no-store"))
        #expect(lifetime(["Date": HTTPDate.format(now), "Expires": HTTPDate.format(now + 999), "CDN-Cache-Control": "max-age=60"]) == sixty)
        #expect(lifetime(["Cache-Control": "max-age=60", "CDN-Cache-Control": ""]) == sixty)
        #expect(lifetime(["CDN-Cache-Control": "max-age=60, private=?0, no-store=?0"]) == sixty)
        var other = CachePolicy()
        other.targetedFields = ["Edge-Cache-Control"]
        #expect(other.decide(status: 200, headers: ["Cache-Control": "max-age=60", "CDN-Cache-Control": "no-store"], immutable: false, now: now)
                == sixty)

        let cache = makeCache()
        let origin = Origin { _, _ in Self.ok("t", ["Cache-Control": "no-store", "CDN-Cache-Control": "max-age=60"]) }
        let (miss, _) = try await get(cache, origin)
        #expect(miss.headers["CDN-Cache-Control"] == nil && miss.headers["Cache-Control"] == "no-store")
        await stored(cache)
        let (hit, _) = try await get(cache, origin)
        #expect(hit.headers["X-Cache"] == "HIT" && hit.headers["CDN-Cache-Control"] == nil)
        let forwarding = Cache(store: CacheStore(name: "f", memory: MemoryStore(budget: 1 << 20, maxObjectBytes: 1 << 17), disk: nil,
                                                 maxObjectBytes: 1 << 17), policy: policy, keyHeaders: [], forwardTargeted: true)
        #expect(try await get(forwarding, origin).0.headers["CDN-Cache-Control"] == "max-age=60")
    }

    // MARK: Cache-Status

    @Test("Cache-Status says hit, miss and stored, revalidated, collapsed, and keeps what the caches behind said")
    func cacheStatus() async throws {
        let cache = makeCache(statusKey: true)
        let origin = Origin { call, _ in
            call == 1 ? Self.ok("s", ["Cache-Control": "max-age=0", "ETag": "\"s\"", "Cache-Status": "origin-cache; hit"])
                : Response(status: .notModified, headers: ["Cache-Control": "max-age=100", "ETag": "\"s\""])
        }
        let (miss, _) = try await get(cache, origin)
        #expect(miss.headers["Cache-Status"] == "origin-cache; hit, gateway; fwd=uri-miss; stored; ttl=0; key=\"GET e/o\"")
        await stored(cache)
        let (revalidated, _) = try await get(cache, origin)
        #expect(revalidated.headers["Cache-Status"] == "gateway; fwd=stale; fwd-status=304; stored; ttl=100; key=\"GET e/o\"")
        let (hit, _) = try await get(cache, origin)
        #expect(hit.headers["Cache-Status"]?.hasPrefix("gateway; hit; ttl=") == true)
        #expect(hit.headers["Cache-Status"]?.hasSuffix("; key=\"GET e/o\"") == true)
        // Not storable: forwarded, not stored, with the reason.
        let uncacheable = Origin { _, _ in Self.ok("u", ["Cache-Control": "no-store"]) }
        #expect(try await get(cache, uncacheable, "/u").0.headers["Cache-Status"] == "gateway; fwd=uri-miss; key=\"GET e/u\"; detail=\"no-store\"")
        // Unsafe methods go forward.
        let post = try await cache.handle(Request(method: .post, authority: "e", path: "/u"), context: Context(requestID: "p"),
                                          next: uncacheable.next)
        #expect(post.headers["Cache-Status"]?.hasPrefix("gateway; fwd=method") == true)
        // Followers of one fetch are collapsed into it.
        let held = FakeUpstream(chunks: [[1, 2, 3]])
        let plain = makeCache()
        let responses = try await withThrowingTaskGroup(of: Response.self) { group in
            for i in 0..<3 {
                group.addTask { try await plain.handle(Request(authority: "e", path: "/c"), context: Context(requestID: "\(i)"), next: held.next) }
            }
            var all: [Response] = []
            for try await response in group { all.append(response) }
            return all
        }
        held.gate.open()
        let statuses = responses.compactMap { $0.headers["Cache-Status"] }.sorted()
        #expect(statuses == ["gateway; fwd=uri-miss; stored; collapsed; ttl=60", "gateway; fwd=uri-miss; stored; collapsed; ttl=60",
                             "gateway; fwd=uri-miss; stored; ttl=60"])
    }

    // MARK: What the conformance suite showed next

    @Test("must-understand lets a status this cache understands ignore no-store; no-cache forbids serving stale")
    func mustUnderstandAndNoCache() {
        var policy = CachePolicy()
        #expect(policy.decide(status: 200, headers: ["Cache-Control": "max-age=3600, no-store, must-understand"], immutable: false, now: now)
                == .store(Freshness(lifetime: 3600, staleWhileRevalidate: 0, staleIfError: 0)))
        #expect(policy.decide(status: 299, headers: ["Cache-Control": "max-age=3600, must-understand"], immutable: false, now: now)
                == .skip("must-understand"))
        policy.staleIfError = 600
        policy.staleWhileRevalidate = 600
        #expect(policy.decide(status: 200, headers: ["Cache-Control": "max-age=2, no-cache", "ETag": "\"n\""], immutable: false, now: now)
                == .store(Freshness(lifetime: 0, staleWhileRevalidate: 0, staleIfError: 0)))
    }

    @Test("a targeted field that is not a valid structured dictionary, or a max-age that is not an integer, is ignored")
    func targetedFieldSyntax() {
        for valid in ["max-age=60", "max-age=60, must-revalidate", "no-store=?0, max-age=60;a=1", "a=\"x\", b=:AAE=:, c=1.5, d=tok/en"] {
            #expect(StructuredDictionary.isValid(valid), "\(valid)")
        }
        for invalid in ["max-age=10000, &&&&&", "Max-Age=60", "max-age=60,", "max-age=(1 2)", "a=\"open", "a=1.", "a=?2", "max-age=6 0"] {
            #expect(!StructuredDictionary.isValid(invalid), "\(invalid)")
        }
        let policy = CachePolicy()
        #expect(policy.decide(status: 200, headers: ["CDN-Cache-Control": "max-age=10000, &&&&&", "Cache-Control": "no-store"],
                              immutable: false, now: now) == .skip("no-store"))
        #expect(policy.decide(status: 200, headers: ["CDN-Cache-Control": "max-age=\"10000\"", "Cache-Control": "max-age=5"],
                              immutable: false, now: now) == .skip("no freshness and no validator"))
    }

    @Test("Accept-Language variants ignore case and order; If-Modified-Since without Last-Modified is judged by Date")
    func languageAndDateValidator() async throws {
        let cache = makeCache()
        let date = HTTPDate.format(HTTPDate.now)
        let origin = Origin { _, _ in Self.ok("l", ["Cache-Control": "max-age=600", "Vary": "Accept-Language", "Date": date]) }
        _ = try await get(cache, origin, headers: ["Accept-Language": "en, de"])
        await stored(cache)
        #expect(try await get(cache, origin, headers: ["Accept-Language": "De, EN"]).0.headers["X-Cache"] == "HIT")
        #expect(try await get(cache, origin, headers: ["Accept-Language": "fr"]).0.headers["X-Cache"] == "MISS")
        let older = HTTPDate.format(HTTPDate.now - 3000)
        let (notModified, _) = try await get(cache, origin, headers: ["Accept-Language": "en, de", "If-Modified-Since": date])
        #expect(notModified.status == .notModified)
        let (modified, _) = try await get(cache, origin, headers: ["Accept-Language": "en, de", "If-Modified-Since": older])
        #expect(modified.status == .ok)
    }

    // MARK: Purge

    @Test("PURGE with the token forgets a URL (every variant) or a prefix, in memory and on disk; without it 401")
    func purge() async throws {
        let directory = "/tmp/cache-purge-" + SecureRandom.hex(6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let disk = try DiskStore.open(directory: directory, budget: 1 << 20)
        let store = CacheStore(name: "p", memory: MemoryStore(budget: 1 << 20, maxObjectBytes: 1 << 17), disk: disk, maxObjectBytes: 1 << 17)
        let cache = Cache(store: store, policy: CachePolicy(), keyHeaders: [], xCache: true, purgeToken: Secret("s3cret"))
        let origin = Origin { _, request in
            Self.ok(request.path, ["Cache-Control": "max-age=600", "Vary": "Accept"])
        }
        let paths = [("/a/1", "x"), ("/a/1", "y"), ("/a/2", "x"), ("/b/1", "x"), ("/a/1?q=1", "x")]
        for (i, (target, accept)) in paths.enumerated() {
            let parts = target.split(separator: "?", maxSplits: 1).map(String.init)
            let request = Request(authority: "e", path: parts[0], query: parts.count > 1 ? parts[1] : nil, headers: ["Accept": accept])
            let response = try await cache.handle(request, context: Context(requestID: "\(i)"), next: origin.next)
            try await response.body.write(to: CollectingWriter())
            while disk.usage.entries < i + 1 || store.memory.usage.entries < i + 1 { await Task.yield() }
        }
        func purge(_ path: String, _ authorization: String?) async throws -> (HTTPStatus, String) {
            let request = Request(method: "PURGE", authority: "e", path: path,
                                  headers: authorization.map { ["Authorization": $0] } ?? [:])
            let response = try await cache.handle(request, context: Context(requestID: "purge"), next: origin.next)
            let writer = CollectingWriter()
            try await response.body.write(to: writer)
            return (response.status, String(decoding: writer.bytes, as: UTF8.self))
        }
        #expect(try await purge("/a/1", nil).0 == .unauthorized)
        #expect(try await purge("/a/1", "Bearer wrong").0 == .unauthorized)
        #expect(disk.usage.entries == 5)
        // The URL: both its variants, not /a/1?q=1, in both tiers.
        #expect(try await purge("/a/1", "Bearer s3cret") == (.ok, "{\"purged\": 2}\n"))
        #expect(disk.usage.entries == 3 && store.memory.usage.entries == 3)
        #expect(try await get(cache, origin, "/a/1", headers: ["Accept": "x"]).0.headers["X-Cache"] == "MISS")
        while disk.usage.entries < 4 { await Task.yield() }
        // The prefix: everything under /a/, nothing under /b/.
        #expect(try await purge("/a/*", "bearer s3cret") == (.ok, "{\"purged\": 3}\n"))
        #expect(disk.usage.entries == 1 && store.memory.usage.entries == 1)
        #expect(disk.keys == ["GET e/b/1\u{1F}accept: x"])
        #expect(try await get(cache, origin, "/b/1", headers: ["Accept": "x"]).0.headers["X-Cache"] == "HIT")
        #expect(store.metrics.purged.load(ordering: .relaxed) == 5)
        #expect(store.renderMetrics().contains("gateway_cache_purged_total{cache=\"p\"} 5\n"))
    }

    @Test("config: cacheStatus must be a token, targetedFields header names (not Cache-Control)")
    func config() {
        let json = #"""
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"s": {"chain": [{"type": "cache", "cacheStatus": "my cache", "targetedFields": ["CDN-Cache-Control", "Cache-Control", "a b"]},
                                        {"type": "upstream", "url": "http://127.0.0.1:1"}]},
                        "t": {"chain": [{"type": "cache", "cacheStatus": "", "purgeToken": "x", "targetedFields": []},
                                        {"type": "upstream", "url": "http://127.0.0.1:1"}]}}}
            """#
        let found = loadPipeline(json).1.errors.map(\.description)
        #expect(found.contains(#"/stacks/s/chain/0/cacheStatus: must be a token such as "gateway" (a letter, then letters, digits, - . _ : /)"#), "\(found)")
        #expect(found.contains(#"/stacks/s/chain/0/targetedFields/1: "Cache-Control" is not a targeted field name"#), "\(found)")
        #expect(found.contains(#"/stacks/s/chain/0/targetedFields/2: "a b" is not a targeted field name"#), "\(found)")
        #expect(found.count == 3, "\(found)")
    }
}
