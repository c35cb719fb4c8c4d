import Foundation
import Middlewares
import Pipeline
import Testing

/// The `github` source against the running stand-in: real HTTP, real git, real tokens.
@Suite("github source against the stand-in")
struct GitHubSourceTests {
    @Test("an App token is minted once for a crowd of 50 concurrent callers")
    func appTokenSharedByACrowd() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        // freshFor 0: every call goes to GitHub (a conditional request), so every call needs a token.
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"0s\"")
        let source = harness.source

        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 { group.addTask { try await source.tags(repo: "vpc").count } }
            for try await count in group { #expect(count == 1) }
        }
        #expect(try await standIn.counter("api.tokens") == 1, "50 concurrent callers share one minted token")
        #expect(source.tokensMinted == 1)
    }

    /// Tokens live 24 s here (GitHub's live an hour). A token this short is replaced with half its
    /// life left (the margin is at least a call's timeout, at most half the life: 12 s here), which
    /// leaves time for a call on a busy machine.
    /// The calls go through the harness's server, so the source runs on its event loop; the test's
    /// own task only paces them and may be held up by other suites (that costs calls, not tokens),
    /// so the run lasts until a third token was minted rather than a fixed number of seconds.
    @Test("an App token is refreshed before it expires during a run longer than two lifetimes")
    func appTokenRefreshedBeforeExpiry() async throws {
        let fixtures = GitHubFixtures(tokenLifetime: 24)
        fixtures.repo("vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"0s\"")

        let started = Date()
        var calls = 0
        while Date().timeIntervalSince(started) < 240, try await standIn.counter("api.tokens") < 3 {
            let answer = try await harness.get("/tags/vpc")
            #expect(answer.status == 200)
            #expect(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String] == ["v1.0.0"])
            calls += 1
            try await Task.sleep(for: .seconds(1))
        }
        let counters = try await standIn.counters()
        let minted = counters["api.tokens"] ?? 0
        #expect(minted == 3, "tokens were refreshed during the run (\(minted) minted for \(calls) calls)")
        // Each token serves for half of its 24 s (less a second of clock rounding): a third one
        // cannot be due before about 22 s.
        #expect(Date().timeIntervalSince(started) >= 20, "tokens are reused until they are due (\(minted) for \(calls) calls)")
        #expect(counters["api.unauthorized"] == nil, "no call went out with an expired token")
        #expect(harness.source.tokensMinted == minted)
    }

    @Test("250 tags are listed through Link pagination, and a fresh answer costs no call")
    func paginatedTags() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("terraform-aws-vpc")
        let names = (0..<250).map { "v1.\($0).0" }
        repo.tags(names)
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn)

        let tags = try await harness.source.tags(repo: "terraform-aws-vpc")
        #expect(tags.count == 250)
        #expect(Set(tags.map(\.name)) == Set(names))
        #expect(tags.allSatisfy { $0.sha == repo.head })
        #expect(try await standIn.counter("api.tags") == 3, "per_page=100: pages 1, 2, 3")

        _ = try await harness.source.tags(repo: "terraform-aws-vpc")
        #expect(try await standIn.counter("api.tags") == 3, "within freshFor nothing is asked again")
    }

    @Test("a burst of 200 client requests after the freshness interval costs one revalidation, answered 304")
    func burstCostsOneRevalidation() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tags(["v1.0.0", "v1.1.0"])
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"5s\"")

        let first = try await harness.get("/tags/vpc")
        #expect(first.status == 200)
        #expect(try await standIn.counter("api.tags") == 1)
        try await Task.sleep(for: .milliseconds(5500))

        let started = ContinuousClock.now
        let statuses = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for _ in 0..<200 { group.addTask { let answer = try await harness.get("/tags/vpc"); return (answer.status, answer.body) } }
            var all: [(Int, [UInt8])] = []
            for try await answer in group { all.append(answer) }
            return all
        }
        // One revalidation per freshness interval the burst spans: one, unless a loaded machine
        // stretched the burst past 5 s (then the answer was legitimately stale again).
        let intervals = 1 + Int((ContinuousClock.now - started).seconds / 5)
        #expect(statuses.count == 200)
        #expect(statuses.allSatisfy { $0.0 == 200 && $0.1 == first.body })
        let counters = try await standIn.counters()
        #expect((counters["api.tags"] ?? 0) - 1 <= intervals, "one revalidation for the whole burst")
        #expect((counters["api.tags"] ?? 0) >= 2, "the stale answer was revalidated")
        #expect(counters["api.tags.304"] == (counters["api.tags"] ?? 0) - 1, "and every revalidation was a conditional request answered 304")
    }

    @Test("a private release asset is fetched through the API redirect with no Authorization at the objects host")
    func privateAssetDownload() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("terraform-provider-secret", private: true)
        repo.tag("v1.0.0")
        let payload = SecureRandom.bytes(300_000)
        repo.release("v1.0.0", assets: ["terraform-provider-secret_1.0.0_linux_amd64.zip": payload])
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn)

        let releases = try await harness.source.releases(repo: "terraform-provider-secret")
        let asset = try #require(releases.first?.assets.first)
        #expect(asset.size == payload.count)
        #expect(asset.digest == "sha256:" + Hex.encode(Digest.sha256(payload)))

        let request = try await harness.source.assetRequest(repo: "terraform-provider-secret", asset: asset)
        #expect(request.headers["Accept"] == "application/octet-stream")
        #expect(request.headers["Authorization"] == nil, "the token is taken when upstream makes the call, not kept in the request")
        #expect(request.upstream?.fetch != nil, "upstream makes the API call through the source")
        #expect(request.upstream?.cacheKey == "github-asset:acme/terraform-provider-secret/\(asset.id)")
        #expect(request.upstream?.immutable == true)

        let download = try await harness.get("/asset/terraform-provider-secret/\(asset.id)")
        #expect(download.status == 200)
        #expect(download.body == payload)
        let counters = try await standIn.counters()
        #expect(counters["api.assetDownload"] == 1)
        #expect(counters["objects.served"] == 1)
        #expect(counters["objects.refusedAuthorization"] == nil, "the token was not carried to the storage host")

        // What the stand-in enforces: the asset is invisible without a token, and the storage host
        // refuses a request that carries one.
        let anonymous = Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Accept: application/octet-stream",
                                   standIn.api + "/repos/acme/terraform-provider-secret/releases/assets/\(asset.id)"])
        #expect(anonymous.output == "404")
        let redirect = Tool.curl(["-o", "/dev/null", "-w", "%{redirect_url}", "-H", "Accept: application/octet-stream",
                                  "-H", "Authorization: Bearer \(fixtures.userToken)",
                                  standIn.api + "/repos/acme/terraform-provider-secret/releases/assets/\(asset.id)"])
        #expect(redirect.output.hasPrefix(standIn.objects))
        let withAuthorization = Tool.curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer x", redirect.output])
        #expect(withAuthorization.output == "400")
    }

    @Test("with the rate limit spent, clients get 503 with Retry-After and stale metadata is still served")
    func rateLimitExhaustion() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        fixtures.repo("dns").tag("v2.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"1s\"")

        let primed = try await harness.get("/tags/vpc")
        #expect(primed.status == 200)
        try await standIn.knobs(["rateLimit": ["exhausted": true, "resetInSeconds": 120]])
        try await Task.sleep(for: .milliseconds(1200))

        let stale = try await harness.get("/tags/vpc")
        #expect(stale.status == 200, "stale tags are served while GitHub refuses")
        #expect(stale.body == primed.body)
        #expect(try await standIn.counter("api.limited") == 1, "GitHub was asked once and said 403 with X-RateLimit-Remaining: 0")

        for _ in 0..<3 {
            let refused = try await harness.get("/tags/dns")
            #expect(refused.status == 503, "nothing cached for dns: 503")
            let retryAfter = try #require(refused.headers["Retry-After"].flatMap { Int($0) })
            #expect(retryAfter > 0 && retryAfter <= 121)
        }
        #expect(try await standIn.counter("api.limited") == 1, "no further calls while the limit is spent")

        // Through the real curl client as well.
        let curl = Tool.curl(["-i", harness.url("/tags/dns")])
        #expect(curl.output.hasPrefix("HTTP/1.1 503"))
        #expect(curl.output.lowercased().contains("retry-after: "))
    }

    @Test("a signed webhook for a new tag makes it visible at once; a bad signature is refused and changes nothing")
    func webhookInvalidation() async throws {
        let fixtures = GitHubFixtures()
        let repo = fixtures.repo("vpc")
        repo.tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, options: "\"freshFor\": \"1h\"")

        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"])
        repo.commit(["main.tf": "# 1.1\n"])
        repo.tag("v1.1.0")
        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"], "cached for freshFor")
        let generation = harness.source.generation

        let forged = try await standIn.deliver(to: harness.url("/hooks/github"), secret: "not-the-secret", event: "create", repository: "vpc",
                                               extra: JSONObject([("ref", "v1.1.0"), ("ref_type", "tag")]))
        #expect(forged.status == 401)
        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.0.0"])
        #expect(harness.source.generation == generation)
        #expect(try await standIn.counter("api.tags") == 1)

        let delivered = try await standIn.deliver(to: harness.url("/hooks/github"), secret: harness.secret, event: "create",
                                                  repository: "vpc", extra: JSONObject([("ref", "v1.1.0"), ("ref_type", "tag")]))
        #expect(delivered.status == 200)
        #expect(harness.source.generation != generation)
        #expect(try await harness.source.tags(repo: "vpc").map(\.name) == ["v1.1.0", "v1.0.0"], "visible at once")
        #expect(try await standIn.counter("api.tags") == 2)

        let ping = try await standIn.deliver(to: harness.url("/hooks/github"), secret: harness.secret, event: "ping", repository: "vpc")
        #expect(ping.status == 200)
    }

    @Test("repositories with topics, a release by tag, a file at a ref and a tarball with GitHub's top directory")
    func metadataAndTarball() async throws {
        let fixtures = GitHubFixtures()
        let vpc = fixtures.repo("terraform-aws-vpc", topics: ["terraform-module"], files: ["main.tf": "# vpc v1\n"])
        vpc.tag("v1.0.0", annotated: true)
        vpc.release("v1.0.0", assets: ["notes.txt": Array("notes\n".utf8)])
        vpc.release("v1.1.0-rc1", draft: true)
        let tagged = vpc.head
        vpc.commit(["main.tf": "# vpc main\n", "apt/dists/stable/Release": "Suite: stable\n"])
        fixtures.repo("secret", private: true)
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn)
        let source = harness.source

        let repos = try await source.repositories()
        #expect(repos.map(\.name).sorted() == ["secret", "terraform-aws-vpc"], "an installation sees its private repositories")
        let module = try #require(repos.first { $0.name == "terraform-aws-vpc" })
        #expect(module.topics == ["terraform-module"])
        #expect(module.defaultBranch == "main")
        #expect(repos.first { $0.name == "secret" }?.isPrivate == true)

        let tags = try await source.tags(repo: "terraform-aws-vpc")
        #expect(tags == [GitTag(name: "v1.0.0", sha: tagged)], "annotated tags are peeled to their commit")
        let release = try #require(try await source.release(repo: "terraform-aws-vpc", tag: "v1.0.0"))
        #expect(release.assets.map(\.name) == ["notes.txt"])
        #expect(try await source.release(repo: "terraform-aws-vpc", tag: "v1.1.0-rc1") == nil, "drafts are not found by tag")
        #expect(try await source.releases(repo: "terraform-aws-vpc").map(\.tag) == ["v1.0.0"], "an installation sees no drafts")

        #expect(try await source.file(repo: "terraform-aws-vpc", path: "main.tf") == Array("# vpc main\n".utf8))
        #expect(try await source.file(repo: "terraform-aws-vpc", path: "main.tf", ref: "v1.0.0") == Array("# vpc v1\n".utf8))
        #expect(try await source.file(repo: "terraform-aws-vpc", path: "apt/dists/stable/Release", ref: "main") == Array("Suite: stable\n".utf8))
        #expect(try await source.file(repo: "terraform-aws-vpc", path: "missing.tf") == nil)
        #expect(try await source.tags(repo: "no-such-repo").isEmpty)
        #expect(try await source.file(repo: "terraform-aws-vpc", path: "../../etc/passwd") == nil)
        // A folder of a branch (the apt-metadata branch mode reads dists/ this way).
        let folder = try #require(try await source.folder(repo: "terraform-aws-vpc", path: "apt/dists", ref: "main"))
        #expect(folder.map(\.name) == ["stable"] && folder.first?.kind == .folder && folder.first?.path == "apt/dists/stable")
        let files = try #require(try await source.folder(repo: "terraform-aws-vpc", path: "apt/dists/stable", ref: "main"))
        #expect(files.map(\.name) == ["Release"] && files.first?.kind == .file && files.first?.size == 14)
        #expect(try await source.folder(repo: "terraform-aws-vpc", path: "main.tf") == nil, "a file is not a folder")
        #expect(try await source.folder(repo: "terraform-aws-vpc", path: "apt", ref: "v1.0.0") == nil)
        let asset = try #require(release.assets.first)
        #expect(asset.state == "uploaded" && asset.updatedAt != nil && asset.digest?.hasPrefix("sha256:") == true)

        let tarball = try await source.tarballRequest(repo: "terraform-aws-vpc", ref: "v1.0.0")
        #expect(tarball.upstream?.cacheKey == "github:acme/terraform-aws-vpc@\(tagged).tar.gz")
        #expect(tarball.upstream?.immutable == true)
        let download = try await harness.get("/tarball/terraform-aws-vpc/v1.0.0")
        #expect(download.status == 200)
        let directory = TemporaryDirectory()
        directory.write("module.tar.gz", Data(download.body))
        let listing = Tool.run("tar", ["-tzf", directory.file("module.tar.gz")])
        #expect(listing.output.split(separator: "\n").contains("acme-terraform-aws-vpc-\(tagged.prefix(7))/main.tf"))
        let branch = try await source.tarballRequest(repo: "terraform-aws-vpc", ref: "main")
        #expect(branch.upstream?.immutable == false, "a branch moves, so its archive is not immutable")
        #expect(try await standIn.counter("codeload.tarball") == 1)
    }

    @Test("a secondary rate limit with Retry-After is honoured: 503 to clients, no call until it passes")
    func secondaryLimit() async throws {
        let fixtures = GitHubFixtures()
        fixtures.repo("vpc").tag("v1.0.0")
        let standIn = try StandInProcess(fixtures: fixtures)
        let harness = try GitHubSourceHarness(standIn: standIn, auth: .token)
        try await standIn.knobs(["secondaryLimit": ["status": 429, "retryAfter": 30, "count": 1]])

        let refused = try await harness.get("/tags/vpc")
        #expect(refused.status == 503)
        let retryAfter = try #require(refused.headers["Retry-After"].flatMap { Int($0) })
        #expect(retryAfter > 0 && retryAfter <= 30)
        _ = try await harness.get("/tags/vpc")
        #expect(try await standIn.counter("api.secondary") == 1)
        #expect(try await standIn.counter("api.tags") == 0, "the source waits out Retry-After instead of calling again")
    }
}
