import Pipeline
import Synchronization

/// `github`: an organisation's (or user's) repositories on github.com or Enterprise Server, read
/// through the REST API. Behaviours ask it for repositories, tags, releases and files, and for
/// ready-made upstream requests for tarballs and release assets, which `upstream` streams.
///
/// Metadata answers are cached for `freshFor`, then revalidated with ETags; calls are
/// single-flight per answer; a spent rate limit serves stale answers or, with none, throws
/// `HTTPError` 503 with `Retry-After`. A repository that does not exist, or that the credentials
/// cannot see (GitHub answers 404 for both), lists no tags or releases and has no files.
///
/// ```json
/// "org": {"type": "github", "owner": "acme",
///         "app": {"id": "12345", "installation": "67890", "privateKeyFile": "/run/secrets/app.pem"}}
/// ```
///
/// It is `Stoppable`: when a reload replaces it (or a load that built it fails), `stop()` cancels
/// its loads and token mints in flight and it makes no further call to GitHub (callers get
/// `CancellationError`).
public final class GitHubSource: ReleaseFeed, Stoppable {
    /// The name the source has in pipeline.json.
    public let name: String
    /// The organisation or user whose repositories are served.
    public let owner: String
    /// The HTTP client for API calls and downloads (its CA file and timeouts).
    public let client: HTTPClient
    let api: GitHubAPI
    let cache: GitHubMetadataCache
    let credentials: GitHubCredentials
    let rateLimit: GitHubRateLimit
    let maxFileBytes: Int
    /// The cap on one page of JSON.
    let maxPageBytes = 16 << 20
    /// A listing stops after this many pages (10,000 items), whatever `Link` says.
    let maxPages = 100
    /// Whether `owner` turned out to be a user rather than an organisation (nil: not known yet).
    private let ownerIsUser = Mutex<Bool?>(nil)

    init(name: String, owner: String, api: GitHubAPI, credentials: GitHubCredentials, rateLimit: GitHubRateLimit,
         cache: GitHubMetadataCache, maxFileBytes: Int) {
        self.name = name
        self.owner = owner
        self.api = api
        client = api.client
        self.credentials = credentials
        self.rateLimit = rateLimit
        self.cache = cache
        self.maxFileBytes = maxFileBytes
    }

    /// Changes whenever cached metadata changed or was invalidated: behaviours that derive their
    /// own caches from the source compare it to know when to rebuild.
    public var generation: UInt64 { cache.generation }

    /// How many installation tokens were minted (0 without an App).
    public var tokensMinted: Int {
        if case .app(let tokens) = credentials { return tokens.minted }
        return 0
    }

    /// Stops all background work and refuses later calls (idempotent).
    public func stop() async {
        api.stop()
        cache.stop()
    }

    /// Whether `stop()` was called.
    public var isStopped: Bool { api.isStopped }

    // MARK: Metadata

    /// The owner's repositories visible to the credentials, with topics.
    public func repositories() async throws -> [Repository] {
        let all: [Repository]
        if case .app = credentials {
            // An installation lists exactly what it was granted (GET /installation/repositories).
            all = try await list(api.url("/installation/repositories", query: [("per_page", "100")]), scope: "owner",
                                 decode: Repository.init(githubJSON:))
        } else if ownerIsUser.withLock({ $0 }) == true {
            all = try await userRepositories()
        } else {
            let org = api.url("/orgs/\(Self.segment(owner))/repos", query: [("per_page", "100")])
            let answer = try await listAnswer(org, scope: "owner", decode: Repository.init(githubJSON:))
            // Not an organisation: a user account lists its repositories elsewhere.
            ownerIsUser.withLock { $0 = answer.status == 404 }
            all = answer.status == 404 ? try await userRepositories() : answer.value as? [Repository] ?? []
        }
        let prefix = owner.lowercasedASCII() + "/"
        return all.filter { $0.fullName.lowercasedASCII().hasPrefix(prefix) || !$0.fullName.contains("/") }
    }

    /// A user's repositories: `/users/{user}/repos` lists the public ones only, so a token also
    /// lists what it reaches itself (`/user/repos`: its own repositories, and those it collaborates
    /// on; the caller keeps the owner's).
    private func userRepositories() async throws -> [Repository] {
        let publicOnes = try await list(api.url("/users/\(Self.segment(owner))/repos", query: [("per_page", "100")]), scope: "owner",
                                        decode: Repository.init(githubJSON:))
        guard case .token = credentials else { return publicOnes }
        let reachable = try await list(api.url("/user/repos", query: [("affiliation", "owner,collaborator"), ("per_page", "100")]),
                                       scope: "owner", decode: Repository.init(githubJSON:))
        let known = Set(reachable.map { $0.fullName.lowercasedASCII() })
        return reachable + publicOnes.filter { !known.contains($0.fullName.lowercasedASCII()) }
    }

    /// One repository, or nil when it does not exist or is not visible.
    public func repository(_ repo: String) async throws -> Repository? {
        guard let path = repoPath(repo) else { return nil }
        return try await object(api.url(path), repo: repo, decode: Repository.init(githubJSON:))
    }

    /// The repository's tags, newest first as GitHub orders them; empty for an unknown repository.
    public func tags(repo: String) async throws -> [GitTag] {
        guard let path = repoPath(repo) else { return [] }
        return try await list(api.url(path + "/tags", query: [("per_page", "100")]), scope: Self.scope(repo), decode: GitTag.init(githubJSON:))
    }

    /// The repository's releases (drafts included when the credentials may see them); empty for an
    /// unknown repository.
    public func releases(repo: String) async throws -> [Release] {
        guard let path = repoPath(repo) else { return [] }
        return try await list(api.url(path + "/releases", query: [("per_page", "100")]), scope: Self.scope(repo),
                              decode: Release.init(githubJSON:))
    }

    /// The published release of `tag`, or nil.
    public func release(repo: String, tag: String) async throws -> Release? {
        guard let path = repoPath(repo), Self.isValidRef(tag) else { return nil }
        return try await object(api.url(path + "/releases/tags/" + Self.refPath(tag)), repo: repo, decode: Release.init(githubJSON:))
    }

    /// The bytes of the file at `path` in `ref` (the default branch when nil), up to the source's
    /// `maxFileBytes`; nil when the repository, ref or file does not exist (or `path` is a folder).
    public func file(repo: String, path: String, ref: String? = nil) async throws -> [UInt8]? {
        guard let repoPath = repoPath(repo), Self.isValidFilePath(path) else { return nil }
        if let ref, !Self.isValidRef(ref) { return nil }
        let url = api.url(repoPath + "/contents/" + PercentEncoding.encodePath(path), query: ref.map { [("ref", $0)] } ?? [])
        let answer = try await cached(url, accept: GitHubAPI.raw, scope: Self.scope(repo), limit: maxFileBytes, single: true) { page in
            // Under the raw media type a file comes as its bytes, a folder as its JSON listing.
            page.mediaType == "application/json" ? [] : [page.body]
        }
        guard answer.status == 200 else { return nil }
        return (answer.value as? [[UInt8]])?.first
    }

    /// The entries of the folder `path` in `ref` (the default branch when nil); nil when the
    /// repository, ref or folder does not exist (or `path` is a file).
    public func folder(repo: String, path: String, ref: String? = nil) async throws -> [RepositoryEntry]? {
        guard let repoPath = repoPath(repo), path.isEmpty || Self.isValidFilePath(path) else { return nil }
        if let ref, !Self.isValidRef(ref) { return nil }
        let url = api.url(repoPath + "/contents/" + PercentEncoding.encodePath(path), query: ref.map { [("ref", $0)] } ?? [])
        let answer = try await cached(url, accept: GitHubAPI.json, scope: Self.scope(repo), limit: maxPageBytes, single: true) { page in
            // A folder is a JSON array; a file is one object, which is not a folder.
            guard let items = (try? JSONParser.parse(page.body))?.array else { return [[RepositoryEntry]]() }
            return [items.compactMap(RepositoryEntry.init(githubJSON:))]
        }
        guard answer.status == 200 else { return nil }
        return (answer.value as? [[RepositoryEntry]])?.first
    }

    /// The repository's page on github.com (nil on Enterprise Server, whose web host differs).
    public func webURL(repo: String) -> String? {
        guard api.base.host == "api.github.com", Self.isValidRepoName(repo) else { return nil }
        return "https://github.com/\(owner)/\(repo)"
    }

    // MARK: Downloads (streamed by `upstream`)

    /// A request for the gzipped tarball of `ref` (a tag, branch or commit SHA): an API call that
    /// GitHub answers with a redirect to codeload, made by `upstream` through the source (its
    /// `fetch`), so it counts against the rate limit like any call. The top directory inside is
    /// `owner-repo-<sha7>/`. The cache key names the commit when the ref is a tag or a SHA, so the
    /// same bytes are shared.
    public func tarballRequest(repo: String, ref: String) async throws -> Request {
        try await archiveRequest(repo: repo, ref: ref, kind: "tarball", suffix: "tar.gz")
    }

    /// The release feed's archive: the tarball.
    public func archiveRequest(repo: String, ref: String) async throws -> Request { try await tarballRequest(repo: repo, ref: ref) }

    /// Like `tarballRequest`, for the zip archive.
    public func zipballRequest(repo: String, ref: String) async throws -> Request {
        try await archiveRequest(repo: repo, ref: ref, kind: "zipball", suffix: "zip")
    }

    /// A request for a release asset's bytes. `upstream` makes the API call through the source
    /// (slots, rate limit, token), then fetches the storage URL GitHub redirects to without
    /// credentials, as the storage host refuses requests that carry one.
    public func assetRequest(repo: String, asset: ReleaseAsset) async throws -> Request {
        try await assetRequest(repo: repo, assetID: asset.id)
    }

    /// A request for release asset `assetID` of `repo`.
    public func assetRequest(repo: String, assetID: Int) async throws -> Request {
        guard let path = repoPath(repo) else { throw HTTPError(.notFound, "no such repository") }
        return try download(path + "/releases/assets/\(assetID)", accept: "application/octet-stream",
                            cacheKey: "github-asset:\(owner)/\(repo)/\(assetID)", immutable: true)
    }

    private func archiveRequest(repo: String, ref: String, kind: String, suffix: String) async throws -> Request {
        guard let path = repoPath(repo) else { throw HTTPError(.notFound, "no such repository") }
        guard Self.isValidRef(ref) else { throw HTTPError(.badRequest, "invalid ref") }
        var sha: String?
        if Self.isCommitSHA(ref) {
            sha = ref.lowercasedASCII()
        } else if let tag = try await tags(repo: repo).first(where: { $0.name == ref }) {
            sha = tag.sha
        }
        // A tag is fetched by its commit, so the bytes match the cache key even if the tag moves meanwhile.
        let target = sha ?? ref
        return try download(path + "/\(kind)/" + Self.refPath(target), accept: GitHubAPI.json,
                            cacheKey: "github:\(owner)/\(repo)@\(target).\(suffix)", immutable: sha != nil)
    }

    /// An upstream request for a download endpoint, fetched through the API (`GitHubAPI.download`).
    /// It carries no credentials: the token is taken when the call is made.
    private func download(_ path: String, accept: String, cacheKey: String, immutable: Bool) throws -> Request {
        guard var request = Request(url: api.url(path), headers: api.headers(accept: accept, authorization: nil)) else {
            throw HTTPError(.internalServerError, "cannot build the download request")
        }
        let api = self.api
        request.upstream = UpstreamOptions(client: client, followRedirects: false, cacheKey: cacheKey, immutable: immutable,
                                           fetch: { request, deadline in try await api.download(request, deadline: deadline) })
        return request
    }

    // MARK: Invalidation

    /// Makes everything cached about `repo` stale at once (a webhook said it changed).
    public func invalidate(repo: String) {
        let scope = Self.scope(repo)
        cache.invalidate { $0 == scope }
    }

    /// Makes the repository list stale (a repository was created, deleted, renamed or changed visibility).
    public func invalidateRepositoryList() {
        cache.invalidate { $0 == "owner" }
    }

    /// Makes every cached answer stale.
    public func invalidateAll() {
        cache.invalidate { _ in true }
    }

    // MARK: Calls through the cache

    private func list<T: Sendable>(_ url: String, scope: String, decode: @escaping @Sendable (JSONValue) -> T?) async throws -> [T] {
        let answer = try await listAnswer(url, scope: scope, decode: decode)
        return answer.status == 200 ? answer.value as? [T] ?? [] : []
    }

    private func listAnswer<T: Sendable>(_ url: String, scope: String, decode: @escaping @Sendable (JSONValue) -> T?) async throws -> CachedAnswer {
        try await cached(url, accept: GitHubAPI.json, scope: scope, limit: maxPageBytes) { page in
            guard let json = try? JSONParser.parse(page.body) else { return [T]() }
            // Most lists are arrays; /installation/repositories wraps its list in an object.
            let items = json.array ?? json["repositories"]?.array ?? []
            return items.compactMap(decode)
        }
    }

    private func object<T: Sendable>(_ url: String, repo: String, decode: @escaping @Sendable (JSONValue) -> T?) async throws -> T? {
        let answer = try await cached(url, accept: GitHubAPI.json, scope: Self.scope(repo), limit: maxPageBytes, single: true) { page in
            (try? JSONParser.parse(page.body)).flatMap(decode).map { [$0] } ?? [T]()
        }
        guard answer.status == 200 else { return nil }
        return (answer.value as? [T])?.first
    }

    /// Fetches `url` and the pages its `Link` headers name, conditionally where an earlier answer
    /// left ETags, and decodes the concatenated pages with `decode` (a page → its items).
    private func cached<T: Sendable>(_ url: String, accept: String, scope: String, limit: Int, single: Bool = false,
                                     decode: @escaping @Sendable (CachedPage) -> [T]) async throws -> CachedAnswer {
        let api = self.api, maxPages = self.maxPages
        do {
            return try await cache.answer(url + " " + accept, scope: scope) { previous in
                var pages: [CachedPage] = []
                var next: String? = url
                while let current = next, pages.count < maxPages {
                    let old = previous?.pages.first { $0.url == current }
                    let answer = try await api.get(current, accept: accept, etag: old?.etag, limit: limit)
                    switch answer.status {
                    case 304 where old != nil:
                        pages.append(old!)
                    case 200:
                        var link = single ? nil : LinkHeader(answer.headers.values("Link")).next
                        if let target = link, !api.isAPI(target) { link = nil }
                        let mediaType = answer.headers["Content-Type"]?.split(separator: ";").first?.trimmingASCIIWhitespace().lowercasedASCII()
                        pages.append(CachedPage(url: current, etag: answer.headers["ETag"], mediaType: mediaType ?? "", body: answer.body, next: link))
                    case 404 where pages.isEmpty:
                        return CachedAnswer(status: 404, pages: [], value: [T]())
                    case 403:
                        throw GitHubError.credentials("403 \(InstallationTokenCache.message(answer.body))")
                    default:
                        throw GitHubError.unexpected(status: answer.status, InstallationTokenCache.message(answer.body))
                    }
                    next = pages.last?.next
                }
                return CachedAnswer(status: 200, pages: pages, value: pages.flatMap(decode))
            }
        } catch let error as GitHubError {
            if case .rateLimited = error {} else {
                Log.error("github call failed", [("source", name), ("reason", error.description)])
            }
            throw error.httpError
        }
    }

    // MARK: Names

    private func repoPath(_ repo: String) -> String? {
        guard Self.isValidRepoName(repo) else { return nil }
        return "/repos/\(Self.segment(owner))/\(repo)"
    }

    static func scope(_ repo: String) -> String { "repo:" + repo.lowercasedASCII() }

    static func segment(_ text: String) -> String { PercentEncoding.encodePathSegment(text) }

    /// A ref in a URL path: segments encoded, `/` kept (branches such as `release/1.x`).
    static func refPath(_ ref: String) -> String { PercentEncoding.encodePath(ref) }

    /// GitHub repository names: ASCII letters, digits, `.`, `-`, `_`; never `.` or `..`.
    static func isValidRepoName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 100, name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || "-._".utf8.contains(byte)
        }
    }

    /// Git ref names as git-check-ref-format allows them, minus what could change a URL's meaning.
    static func isValidRef(_ ref: String) -> Bool {
        guard !ref.isEmpty, ref.utf8.count <= 255, !ref.hasPrefix("-"), !ref.hasPrefix("/"), !ref.hasSuffix("/"),
              !ref.contains(".."), !ref.contains("//"), !ref.hasSuffix(".lock") else { return false }
        return ref.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"~^:?*[\\%#".utf8.contains($0) }
    }

    static func isCommitSHA(_ ref: String) -> Bool {
        ref.utf8.count == 40 && ref.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
    }

    /// A repository-relative file path without empty, `.` or `..` segments.
    static func isValidFilePath(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= 1024 else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { segment in
            !segment.isEmpty && segment != "." && segment != ".." && segment.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
        }
    }
}
