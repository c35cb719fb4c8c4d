import Pipeline

/// `github.webhook`: receives GitHub's webhook deliveries, checks `X-Hub-Signature-256`
/// (`sha256=` + hex HMAC-SHA256 of the raw body under the webhook secret, compared in constant
/// time) and invalidates what the event changed in the named `github` sources, so a new tag or
/// release is visible at once instead of after `freshFor`.
///
/// `push`, `create`, `delete` and `release` invalidate the repository's tags, releases and files;
/// `repository` (created, deleted, renamed, visibility changed, …) and `installation_repositories`
/// also invalidate the repository list; `ping` is answered; other events are acknowledged and
/// ignored. A delivery without a valid signature gets 401 and changes nothing.
public struct GitHubWebhook: Middleware {
    /// The sources a delivery invalidates.
    public let sources: [GitHubSource]
    let secret: Secret
    /// GitHub caps webhook payloads at 25 MB.
    static let maxPayloadBytes = 25 << 20

    public static let type = MiddlewareType(
        name: "github.webhook", summary: "Verifies GitHub webhook deliveries and invalidates what they change in github sources.",
        phase: .behaviour, isTerminal: true,
        options: [
            OptionSpec("source", "[string]", "the github source(s) to invalidate", required: true),
            OptionSpec("secret", "secret", "the webhook secret (or secretFile)", required: true),
            OptionSpec("secretFile", "path", "a file holding the webhook secret"),
        ],
        build: { options, context in
            let names = options.strings("source", required: true)
            let sources = names.enumerated().compactMap { index, name in
                context.source(name, as: GitHubSource.self,
                               at: options.raw("source")?.array == nil ? options.pointer.appending("source") : options.pointer.appending("source").appending(index),
                               expected: "a github source")
            }
            let secret = options.secret("secret", required: true)
            if let secret, secret.value.isEmpty { options.error("secret", "must not be empty") }
            return GitHubWebhook(sources: sources, secret: secret ?? Secret(""))
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .post else {
            throw HTTPError(.methodNotAllowed, "webhook deliveries are POSTs", headers: ["Allow": "POST"])
        }
        let body = try await request.body.collect(upTo: Self.maxPayloadBytes)
        if let delivery = request.headers["X-GitHub-Delivery"] { context.annotate("github_delivery", String(delivery.prefix(64))) }
        guard Self.verify(signature: request.headers["X-Hub-Signature-256"], body: body, secret: secret) else {
            context.annotate("github_webhook", "bad signature")
            throw HTTPError(.unauthorized, "signature missing or wrong")
        }
        let event = request.headers["X-GitHub-Event"] ?? ""
        context.annotate("github_event", String(event.prefix(64)))
        guard let payload = Self.payload(body, contentType: request.headers["Content-Type"]) else {
            throw HTTPError(.badRequest, "payload is not JSON")
        }
        if event == "ping" { return .text("pong\n") }
        let owner = payload["repository"]?["owner"]?["login"]?.string ?? payload["organization"]?["login"]?.string
            ?? payload["installation"]?["account"]?["login"]?.string
        let repo = payload["repository"]?["name"]?.string
        let matching = sources.filter { source in owner.map { $0.equalsIgnoringASCIICase(source.owner) } ?? false }
        var changed: [String] = []
        switch event {
        case "push", "create", "delete", "release":
            if let repo {
                for source in matching { source.invalidate(repo: repo) }
                changed.append(repo)
            }
        case "repository":
            for source in matching {
                source.invalidateRepositoryList()
                if let repo { source.invalidate(repo: repo) }
                if let old = payload["changes"]?["repository"]?["name"]?["from"]?.string { source.invalidate(repo: old) }
            }
            changed.append(repo ?? "repositories")
        case "installation_repositories", "installation":
            for source in matching { source.invalidateAll() }
            changed.append("repositories")
        default:
            return .text("ignored \(event.prefix(64))\n", status: .accepted)
        }
        guard !matching.isEmpty else { return .text("no source for this owner\n", status: .accepted) }
        context.annotate("github_invalidated", changed.joined(separator: ","))
        return .text("invalidated \(changed.joined(separator: ", "))\n")
    }

    /// True when `header` is `sha256=` + the hex HMAC-SHA256 of `body` under `secret`.
    static func verify(signature header: String?, body: [UInt8], secret: Secret) -> Bool {
        guard let header, header.hasPrefix("sha256="), let given = Hex.decode(header.dropFirst(7)), given.count == 32 else {
            return false
        }
        return ConstantTime.equals(given, HMAC.sha256(key: secret.bytes, data: body))
    }

    /// The JSON payload; GitHub sends it raw (`application/json`) or as the `payload` form field
    /// (`application/x-www-form-urlencoded`), depending on the webhook's content type setting.
    static func payload(_ body: [UInt8], contentType: String?) -> JSONValue? {
        if let contentType, contentType.lowercasedASCII().hasPrefix("application/x-www-form-urlencoded") {
            let form = Request(target: "/?" + String(decoding: body, as: UTF8.self))
            return form.query("payload").flatMap { try? JSONParser.parse($0) }
        }
        return try? JSONParser.parse(body)
    }
}
