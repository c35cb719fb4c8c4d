import Pipeline

/// The REST routes the gateway uses, answered from the fixture folder for one caller.
struct APIRoutes {
    let state: StandInState
    let caller: Caller
    let request: Request
    /// The API's own base URL (`http://127.0.0.1:PORT` plus any Enterprise prefix).
    let base: String

    private var fixtures: FixtureStore { state.fixtures }
    private var shapes: GitHubJSON { GitHubJSON(api: base, fixtures: fixtures, config: state.config) }
    private var notFound: Response { GitHubJSON.error(404, "Not Found") }

    /// The route's kind (for counters) and its answer.
    func respond(_ s: [String]) async -> (String, Response) {
        switch s.count {
        case 2 where s == ["installation", "repositories"]:
            return ("repos", await installationRepositories())
        case 3 where s[0] == "orgs" && s[2] == "repos":
            return ("repos", await ownerRepositories(s[1], organisation: true))
        case 3 where s[0] == "users" && s[2] == "repos":
            return ("repos", await ownerRepositories(s[1], organisation: false))
        case 2 where s == ["user", "repos"]:
            return ("repos", await authenticatedUserRepositories())
        default:
            break
        }
        // `/repos/{owner}/{repo}/…`, or `/repositories/{id}/…` (where a renamed repository's 301 leads).
        let repo: FixtureRepo?
        let rest: [String]
        if s.count >= 2, s[0] == "repositories", let id = Int(s[1]) {
            repo = fixtures.repo(id: id)
            rest = Array(s.dropFirst(2))
        } else if s.count >= 3, s[0] == "repos" {
            repo = fixtures.repo(owner: s[1], name: s[2])
            rest = Array(s.dropFirst(3))
            if repo == nil, let moved = fixtures.movedRepo(owner: s[1], name: s[2]), caller.canSee(moved) {
                return ("moved", movedPermanently(to: moved, rest: rest))
            }
        } else {
            return ("other", notFound)
        }
        guard let repo, caller.canSee(repo) else { return (Self.kind(rest), notFound) }
        switch rest.first {
        case nil:
            return ("repo", APIResponses.json(shapes.repository(repo, defaultBranch: await fixtures.defaultBranch(repo)), request: request))
        case "tags" where rest.count == 1:
            return ("tags", await tags(repo))
        case "releases":
            return await releases(repo, Array(rest.dropFirst()))
        case "tarball", "zipball":
            let kind = rest[0]
            return (kind, await archive(repo, ref: rest.count > 1 ? rest.dropFirst().joined(separator: "/") : nil, zip: kind == "zipball"))
        case "contents":
            return ("contents", await contents(repo, path: rest.dropFirst().joined(separator: "/")))
        default:
            return ("other", notFound)
        }
    }

    static func kind(_ rest: [String]) -> String {
        switch rest.first {
        case nil: "repo"
        case "tags": "tags"
        case "releases": rest.count == 1 ? "releases" : rest.count == 3 && rest[1] == "assets" ? "asset" : "release"
        case "tarball", "zipball", "contents": rest[0]
        default: "other"
        }
    }

    // MARK: repositories

    private func installationRepositories() async -> Response {
        guard case .installation(let token) = caller else {
            return GitHubJSON.error(403, "You must authenticate with an installation access token in order to list repositories for an installation.")
        }
        let repos = fixtures.repos(owner: token.account)
        var items: [JSONValue] = []
        for repo in repos { items.append(shapes.repository(repo, defaultBranch: await fixtures.defaultBranch(repo))) }
        let total = items.count
        return APIResponses.page(items, request: request, base: state.urls.api) { slice in
            .object(JSONObject([("total_count", .number(Double(total))), ("repositories", slice)]))
        }
    }

    /// A renamed repository: 301 to the same path under `/repositories/{id}`, as GitHub answers.
    private func movedPermanently(to repo: FixtureRepo, rest: [String]) -> Response {
        var location = "\(base)/repositories/\(repo.id)" + rest.map { "/" + PercentEncoding.encodePathSegment($0) }.joined()
        if let query = request.query { location += "?" + query }
        var response = Response.json(.object(JSONObject([
            ("message", "Moved Permanently"), ("url", .string(location)),
            ("documentation_url", "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"),
        ])), status: .movedPermanently)
        response.headers["Location"] = location
        return response
    }

    /// `GET /user/repos`: the repositories of the token's user by `affiliation` (`owner`: the
    /// user's own; `collaborator`: none here; `organization_member`: the organisations'), private
    /// ones included. It needs a user's token.
    private func authenticatedUserRepositories() async -> Response {
        let login: String?
        switch caller {
        case .anonymous: return GitHubJSON.error(401, "Requires authentication")
        case .installation: return GitHubJSON.error(403, "Resource not accessible by integration")
        case .user(let index, _): login = state.config.tokens[index].login
        }
        let affiliation = (request.query("affiliation") ?? "owner,collaborator,organization_member").split(separator: ",").map(String.init)
        var chosen: [FixtureRepo] = []
        for owner in fixtures.owners() {
            let isOrganisation = state.config.ownerType(owner) == "Organization"
            let mine = login.map { $0.lowercased() == owner.lowercased() } ?? false
            if (mine && affiliation.contains("owner")) || (isOrganisation && affiliation.contains("organization_member")) {
                chosen += fixtures.repos(owner: owner).filter { caller.canSee($0) }
            }
        }
        var items: [JSONValue] = []
        for repo in chosen { items.append(shapes.repository(repo, defaultBranch: await fixtures.defaultBranch(repo))) }
        return APIResponses.page(items, request: request, base: state.urls.api)
    }

    private func ownerRepositories(_ login: String, organisation: Bool) async -> Response {
        guard let owner = fixtures.owner(login), (state.config.ownerType(owner) == "Organization") == organisation else { return notFound }
        // /users/{user}/repos lists public repositories only; /orgs/{org}/repos also private ones the caller may see.
        let visible = fixtures.repos(owner: owner).filter { organisation ? caller.canSee($0) : !$0.isPrivate }
        let type = request.query("type") ?? "all"
        let chosen = visible.filter { type == "private" ? $0.isPrivate : type == "public" ? !$0.isPrivate : true }
        var items: [JSONValue] = []
        for repo in chosen { items.append(shapes.repository(repo, defaultBranch: await fixtures.defaultBranch(repo))) }
        return APIResponses.page(items, request: request, base: state.urls.api)
    }

    // MARK: tags and releases

    private func tags(_ repo: FixtureRepo) async -> Response {
        guard let tags = try? await fixtures.tags(repo) else { return GitHubJSON.error(500, "git failed") }
        return APIResponses.page(tags.map { shapes.tag(repo, name: $0.name, sha: $0.sha) }, request: request, base: state.urls.api)
    }

    private func releases(_ repo: FixtureRepo, _ rest: [String]) async -> (String, Response) {
        let all = fixtures.releases(repo)
        let visible = all.filter { !$0.draft || caller.seesDrafts }
        let branch = await fixtures.defaultBranch(repo)
        switch rest.count {
        case 0:
            return ("releases", APIResponses.page(visible.map { shapes.release(repo, $0, defaultBranch: branch) }, request: request,
                                                  base: state.urls.api))
        case 1 where rest[0] == "latest":
            guard let latest = all.first(where: { !$0.draft && !$0.prerelease }) else { return ("release", notFound) }
            return ("release", APIResponses.json(shapes.release(repo, latest, defaultBranch: branch), request: request))
        case 2 where rest[0] == "assets":
            return ("asset", asset(repo, id: rest[1]))
        case _ where rest.count >= 2 && rest[0] == "tags":
            // Drafts have no tag yet as far as this endpoint is concerned.
            let tag = rest.dropFirst().joined(separator: "/")
            guard let release = all.first(where: { $0.tag == tag && !$0.draft }) else { return ("release", notFound) }
            return ("release", APIResponses.json(shapes.release(repo, release, defaultBranch: branch), request: request))
        case 1:
            guard let id = Int(rest[0]), let release = visible.first(where: { $0.id == id }) else { return ("release", notFound) }
            return ("release", APIResponses.json(shapes.release(repo, release, defaultBranch: branch), request: request))
        case 2 where rest[1] == "assets":
            guard let id = Int(rest[0]), let release = visible.first(where: { $0.id == id }) else { return ("assets", notFound) }
            return ("assets", APIResponses.page(release.assets.map { shapes.asset(repo, release, $0) }, request: request, base: state.urls.api))
        default:
            return ("other", notFound)
        }
    }

    /// Asset metadata, or with `Accept: application/octet-stream` a 302 to the objects listener
    /// with a presigned URL ("Get a release asset").
    private func asset(_ repo: FixtureRepo, id text: String) -> Response {
        guard let id = Int(text), let found = fixtures.asset(id: id), found.repo.id == repo.id,
              !found.release.draft || caller.seesDrafts else { return notFound }
        if request.headers.list("Accept").contains(where: { $0.lowercased().hasPrefix("application/octet-stream") }) {
            state.count("api.assetDownload")
            let location = ObjectsHandler.presignedURL(state: state, repo: repo, asset: found.asset)
            return Response(status: .found, headers: ["Location": location, "Content-Type": "text/html;charset=utf-8"],
                            body: ResponseBody(string: "<html><body>You are being <a href=\"\(location)\">redirected</a>.</body></html>"))
        }
        return APIResponses.json(shapes.asset(repo, found.release, found.asset), request: request)
    }

    // MARK: archives and contents

    /// 302 to codeload; private repositories get a short-lived `token` in the URL, as on GitHub.
    private func archive(_ repo: FixtureRepo, ref: String?, zip: Bool) async -> Response {
        var name = ref ?? ""
        if ref == nil { name = await fixtures.defaultBranch(repo) }
        guard await fixtures.resolve(repo, ref: name) != nil else { return notFound }
        let location = CodeloadHandler.url(state: state, repo: repo, ref: name, zip: zip)
        return Response(status: .found, headers: ["Location": location, "Content-Length": "0"], body: .empty)
    }

    private func contents(_ repo: FixtureRepo, path: String) async -> Response {
        var ref = request.query("ref") ?? ""
        if ref.isEmpty { ref = await fixtures.defaultBranch(repo) }
        guard let sha = await fixtures.resolve(repo, ref: ref), let content = await fixtures.content(repo, path: path, sha: sha) else {
            return notFound
        }
        let raw = request.headers.list("Accept").contains { $0.lowercased().contains("raw") }
        let url = "\(base)/repos/\(repo.fullName)/contents/"
        func entry(_ item: FixtureStore.Content.Entry) -> JSONObject {
            JSONObject([("type", .string(item.type == "tree" ? "dir" : "file")), ("size", .number(Double(item.type == "tree" ? 0 : item.size))),
                        ("name", .string(String(item.path.split(separator: "/").last ?? ""))), ("path", .string(item.path)),
                        ("sha", .string(item.object)), ("url", .string(url + PercentEncoding.encodePath(item.path) + "?ref=" + PercentEncoding.encodeComponent(ref)))])
        }
        switch content {
        case .file(let item, let bytes):
            if raw { return APIResponses.bytes(bytes, contentType: "application/vnd.github.raw", request: request, weak: false) }
            var object = entry(item)
            // The JSON form carries files up to 1 MB; larger ones need the raw media type.
            if bytes.count <= 1 << 20 {
                let encoded = Base64.encode(bytes)
                object["content"] = .string(stride(from: 0, to: encoded.count, by: 60).map { offset -> String in
                    let start = encoded.index(encoded.startIndex, offsetBy: offset)
                    return String(encoded[start..<encoded.index(start, offsetBy: min(60, encoded.count - offset))])
                }.joined(separator: "\n") + "\n")
                object["encoding"] = "base64"
            } else {
                object["content"] = ""
                object["encoding"] = "none"
            }
            return APIResponses.json(.object(object), request: request)
        case .directory(let items):
            return APIResponses.json(.array(items.map { .object(entry($0)) }), request: request)
        }
    }
}
