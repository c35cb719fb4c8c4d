import Pipeline

/// GitHub's REST shapes for the objects the stand-in serves, with the field names of
/// docs.github.com (REST API version 2022-11-28). URLs point at the stand-in's own listeners.
struct GitHubJSON {
    let api: String
    let fixtures: FixtureStore
    let config: StandInConfig

    static func nodeID(_ kind: String, _ id: Int) -> JSONValue { .string(Base64.encode(Array("0\(kind.count):\(kind)\(id)".utf8), padding: false)) }

    static func time(_ seconds: Double) -> JSONValue { .string(WallClock.format(seconds)) }

    func owner(_ login: String) -> JSONValue {
        let id = StableID.of("owner:" + login.lowercased())
        return .object(JSONObject([
            ("login", .string(login)), ("id", .number(Double(id))), ("node_id", Self.nodeID("User", id)),
            ("avatar_url", .string("\(api)/avatars/\(login)")), ("url", .string("\(api)/users/\(login)")),
            ("html_url", .string("\(api)/\(login)")), ("type", .string(config.ownerType(login))), ("site_admin", false),
        ]))
    }

    func repository(_ repo: FixtureRepo, defaultBranch: String) -> JSONValue {
        let base = "\(api)/repos/\(repo.fullName)"
        return .object(JSONObject([
            ("id", .number(Double(repo.id))), ("node_id", Self.nodeID("Repository", repo.id)), ("name", .string(repo.name)),
            ("full_name", .string(repo.fullName)), ("private", .bool(repo.isPrivate)), ("owner", owner(repo.owner)),
            ("html_url", .string("\(api)/\(repo.fullName)")), ("description", repo.description.map(JSONValue.string) ?? .null),
            ("fork", false), ("url", .string(base)),
            ("archive_url", .string(base + "/{archive_format}{/ref}")), ("contents_url", .string(base + "/contents/{+path}")),
            ("releases_url", .string(base + "/releases{/id}")), ("tags_url", .string(base + "/tags")),
            ("created_at", "2020-01-01T00:00:00Z"), ("updated_at", "2020-01-01T00:00:00Z"), ("pushed_at", "2020-01-01T00:00:00Z"),
            ("size", 0), ("archived", .bool(repo.archived)), ("disabled", false),
            ("visibility", .string(repo.isPrivate ? "private" : "public")), ("topics", .array(repo.topics.map(JSONValue.string))),
            ("default_branch", .string(defaultBranch)),
            ("permissions", .object(JSONObject([("admin", false), ("maintain", false), ("push", false), ("triage", false), ("pull", true)]))),
        ]))
    }

    func tag(_ repo: FixtureRepo, name: String, sha: String) -> JSONValue {
        let base = "\(api)/repos/\(repo.fullName)"
        return .object(JSONObject([
            ("name", .string(name)),
            ("zipball_url", .string("\(base)/zipball/refs/tags/\(PercentEncoding.encodePath(name))")),
            ("tarball_url", .string("\(base)/tarball/refs/tags/\(PercentEncoding.encodePath(name))")),
            ("commit", .object(JSONObject([("sha", .string(sha)), ("url", .string("\(base)/commits/\(sha)"))]))),
            ("node_id", Self.nodeID("Ref", StableID.of("ref:\(repo.fullName)/\(name)"))),
        ]))
    }

    func release(_ repo: FixtureRepo, _ release: FixtureRelease, defaultBranch: String) -> JSONValue {
        let base = "\(api)/repos/\(repo.fullName)"
        let tagPath = PercentEncoding.encodePath(release.tag)
        return .object(JSONObject([
            ("url", .string("\(base)/releases/\(release.id)")), ("assets_url", .string("\(base)/releases/\(release.id)/assets")),
            ("upload_url", .string("\(api)/uploads/repos/\(repo.fullName)/releases/\(release.id)/assets{?name,label}")),
            ("html_url", .string("\(api)/\(repo.fullName)/releases/tag/\(tagPath)")),
            ("id", .number(Double(release.id))), ("author", owner(repo.owner)), ("node_id", Self.nodeID("Release", release.id)),
            ("tag_name", .string(release.tag)), ("target_commitish", .string(release.targetCommitish ?? defaultBranch)),
            ("name", release.name.map(JSONValue.string) ?? .null), ("draft", .bool(release.draft)), ("immutable", false),
            ("prerelease", .bool(release.prerelease)), ("created_at", Self.time(release.createdAt)),
            ("published_at", release.publishedAt.map(Self.time) ?? .null),
            ("assets", .array(release.assets.map { asset(repo, release, $0) })),
            ("tarball_url", .string("\(base)/tarball/\(tagPath)")), ("zipball_url", .string("\(base)/zipball/\(tagPath)")),
            ("body", release.body.map(JSONValue.string) ?? .null),
        ]))
    }

    func asset(_ repo: FixtureRepo, _ release: FixtureRelease, _ asset: FixtureAsset) -> JSONValue {
        .object(JSONObject([
            ("url", .string("\(api)/repos/\(repo.fullName)/releases/assets/\(asset.id)")), ("id", .number(Double(asset.id))),
            ("node_id", Self.nodeID("ReleaseAsset", asset.id)), ("name", .string(asset.name)), ("label", .string(asset.label)),
            ("uploader", owner(repo.owner)), ("content_type", .string(asset.contentType)), ("state", .string(asset.state)),
            ("size", .number(Double(asset.size))), ("digest", digest(asset)), ("download_count", 0),
            ("created_at", Self.time(asset.createdAt)), ("updated_at", Self.time(asset.createdAt)),
            ("browser_download_url", .string("\(api)/\(repo.fullName)/releases/download/\(PercentEncoding.encodePath(release.tag))/\(asset.name)")),
        ]))
    }

    /// `sha256:<hex>` as GitHub reports for new uploads; null for large files, as for old assets.
    private func digest(_ asset: FixtureAsset) -> JSONValue {
        guard asset.size <= 64 << 20, let file = OpenFile(path: asset.path), let bytes = try? file.read(at: 0, count: Int(file.size)) else {
            return .null
        }
        return .string("sha256:" + Hex.encode(Digest.sha256(bytes)))
    }

    /// A secondary-limit refusal, with `Retry-After` only when given (GitHub sends it or not).
    static func secondaryLimit(status: Int, retryAfter: Int?) -> Response {
        var response = error(status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                             + "If you reach out to GitHub Support for help, please include the request ID.",
                             documentation: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
        if let retryAfter { response.headers["Retry-After"] = String(retryAfter) }
        return response
    }

    /// GitHub's error body: `{"message", "documentation_url", "status"}`.
    static func error(_ status: Int, _ message: String, documentation: String = "https://docs.github.com/rest") -> Response {
        var response = Response.json(.object(JSONObject([
            ("message", .string(message)), ("documentation_url", .string(documentation)), ("status", .string(String(status))),
        ])), status: HTTPStatus(status))
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        return response
    }
}
