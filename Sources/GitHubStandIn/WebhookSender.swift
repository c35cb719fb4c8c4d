import Foundation
import Pipeline

/// Delivers a webhook the way GitHub does: a JSON payload of the event's shape, `X-GitHub-Event`,
/// `X-GitHub-Delivery`, and `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
///
/// `POST /_standin/events` with `{"url", "secret", "event", "repository", "ref"?, "ref_type"?,
/// "action"?, "tag"?, "signature"?, "payload"?}`; answers `{"status", "body", "delivery"}` with
/// what the receiver said. `signature` replaces the computed header (to test refusals).
struct WebhookSender {
    let state: StandInState

    func deliver(_ json: JSONValue) async throws -> JSONValue {
        guard let url = json["url"]?.string, let event = json["event"]?.string else {
            throw HTTPError(.badRequest, "give \"url\" and \"event\"")
        }
        var payload = json["payload"] ?? .null
        if payload == .null { payload = await self.payload(event: event, json) }
        let body = Array(payload.serialized().utf8)
        let secret = json["secret"]?.string ?? ""
        let signature = json["signature"]?.string ?? "sha256=" + Hex.encode(HMAC.sha256(key: Array(secret.utf8), data: body))
        let delivery = UUID().uuidString.lowercased()
        let headers: HTTPFields = ["Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/standin", "X-GitHub-Event": event,
                                   "X-GitHub-Delivery": delivery, "X-GitHub-Hook-ID": "1", "X-Hub-Signature-256": signature]
        guard let request = Request(url: url, method: .post, headers: headers, body: IncomingBody(bytes: body)) else {
            throw HTTPError(.badRequest, "invalid url")
        }
        let response: ClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, followRedirects: false)
        } catch {
            return .object(JSONObject([("status", 0), ("error", .string("\(error)")), ("delivery", .string(delivery))]))
        }
        let answer = (try? await response.body.collect(upTo: 64 * 1024)) ?? []
        state.count("webhooks.delivered")
        return .object(JSONObject([("status", .number(Double(response.status.code))), ("body", .string(String(decoding: answer, as: UTF8.self))),
                                   ("delivery", .string(delivery))]))
    }

    /// GitHub's payload for `event` about `repository` of the fixtures' first owner (or `owner`).
    private func payload(event: String, _ json: JSONValue) async -> JSONValue {
        let api = state.urls.api
        let shapes = GitHubJSON(api: api, fixtures: state.fixtures, config: state.config)
        let owner = json["owner"]?.string ?? state.fixtures.owners().first ?? "acme"
        let name = json["repository"]?.string ?? ""
        var repository: JSONValue = .object(JSONObject([("name", .string(name)), ("full_name", .string("\(owner)/\(name)")), ("owner", shapes.owner(owner))]))
        var branch = "main"
        let repo = state.fixtures.repo(owner: owner, name: name)
        if let repo {
            branch = await state.fixtures.defaultBranch(repo)
            repository = shapes.repository(repo, defaultBranch: branch)
        }
        var object = JSONObject()
        switch event {
        case "push":
            let ref = json["ref"]?.string ?? "refs/heads/\(branch)"
            let after = await repo.asyncMap { await state.fixtures.resolve($0, ref: ref) } ?? String(repeating: "0", count: 40)
            object = JSONObject([("ref", .string(ref)), ("before", .string(String(repeating: "0", count: 40))), ("after", .string(after)),
                                 ("created", .bool(json["created"]?.bool ?? false)), ("deleted", .bool(json["deleted"]?.bool ?? false)),
                                 ("forced", false), ("base_ref", .null), ("compare", .string("\(api)/\(owner)/\(name)/compare")),
                                 ("commits", []), ("head_commit", .null), ("pusher", ["name": "octocat", "email": "octocat@example.com"])])
        case "create", "delete":
            object = JSONObject([("ref", .string(json["ref"]?.string ?? "")), ("ref_type", .string(json["ref_type"]?.string ?? "tag")),
                                 ("master_branch", .string(branch)), ("description", .null), ("pusher_type", "user")])
        case "release":
            let tag = json["tag"]?.string ?? json["ref"]?.string ?? ""
            var release: JSONValue = .object(JSONObject([("tag_name", .string(tag))]))
            if let repo, let found = state.fixtures.releases(repo).first(where: { $0.tag == tag }) {
                release = shapes.release(repo, found, defaultBranch: branch)
            }
            object = JSONObject([("action", .string(json["action"]?.string ?? "published")), ("release", release)])
        case "repository":
            object = JSONObject([("action", .string(json["action"]?.string ?? "created"))])
        case "ping":
            object = JSONObject([("zen", "Keep it logically awesome."), ("hook_id", 1),
                                 ("hook", .object(JSONObject([("type", "Organization"), ("id", 1), ("active", true),
                                                              ("events", ["push", "create", "delete", "release", "repository"])])))])
        default:
            break
        }
        object["repository"] = repository
        if state.config.ownerType(owner) == "Organization" {
            object["organization"] = .object(JSONObject([("login", .string(owner)), ("id", .number(Double(StableID.of("owner:" + owner.lowercased()))))]))
        }
        object["sender"] = shapes.owner("octocat")
        return .object(object)
    }
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async -> T?) async -> T? {
        guard let self else { return nil }
        return await transform(self)
    }
}
