import Pipeline

extension GitHubSource {
    /// The `github` source type: owner, API URL, and App or token credentials.
    public static let type = SourceType(
        name: "github", summary: "An organisation's or user's repositories, tags, releases and files on GitHub (or Enterprise Server).",
        capabilities: ["a release feed"],
        options: [
            OptionSpec("owner", "string", "organisation or user login", required: true),
            OptionSpec("api", "string", "REST API base URL (Enterprise Server: https://HOST/api/v3)", default: "https://api.github.com"),
            OptionSpec("app", "object", "GitHub App: {\"id\" (Client ID or App ID), \"installation\", \"privateKeyFile\" (or \"privateKey\")}"),
            OptionSpec("token", "secret", "a token instead of an App; e.g. \"${GITHUB_TOKEN}\""),
            OptionSpec("tokenFile", "path", "a file holding the token"),
            OptionSpec("caFile", "path", "extra CA certificates (PEM) for an Enterprise Server with a private CA"),
            OptionSpec("freshFor", "duration", "how long metadata is used before it is revalidated (webhooks invalidate sooner)",
                       default: "60s"),
            OptionSpec("cacheBytes", "size", "memory for cached metadata", default: "32MiB"),
            OptionSpec("maxFileBytes", "size", "largest file read from a repository", default: "8MiB"),
            OptionSpec("timeout", "duration", "connect and first-byte timeout of API calls", default: "30s"),
            OptionSpec("maxConcurrentCalls", "int", "API calls in flight at once (GitHub's secondary limits punish concurrency)",
                       default: "8"),
        ],
        build: { options, context in
            let name = options.pointer.tokens.last ?? "github"
            let owner = options.string("owner", required: true) ?? ""
            let apiText = options.string("api") ?? "https://api.github.com"
            let parsedBase = HTTPURL(apiText)
            if parsedBase == nil { options.error("api", HTTPURL.problem(with: apiText)) }
            // With errors the value is discarded by the loader; it only has to be constructible.
            let base = parsedBase ?? HTTPURL(scheme: "https", host: "api.github.com", path: "/")
            var configuration = HTTPClient.Configuration()
            configuration.caFile = options.pemFile("caFile", .caCertificates)
            let timeout = options.duration("timeout", default: .seconds(30))
            configuration.connectTimeout = timeout
            configuration.firstByteTimeout = timeout
            let freshFor = options.duration("freshFor", default: .seconds(60))
            let cacheBytes = options.size("cacheBytes", default: 32 << 20)
            let maxFileBytes = options.size("maxFileBytes", default: 8 << 20)
            let slots = GitHubCallSlots(limit: options.int("maxConcurrentCalls", default: 8, range: 1...100))
            let token = options.secret("token")
            let appOptions = options.object("app", allowed: ["id", "installation", "privateKey", "privateKeyFile"])
            if appOptions != nil, token != nil {
                options.error("token", "give either \"app\" or \"token\", not both")
            }
            var app: GitHubApp?
            if let appOptions {
                let id = appOptions.string("id", required: true)
                let installation = appOptions.string("installation", required: true)
                if let installation, !installation.isEmpty, Int(installation) == nil {
                    appOptions.error("installation", "expected the numeric installation id")
                }
                let key = appOptions.secret("privateKey", required: true)
                if let id, let installation, let key {
                    do {
                        app = try GitHubApp(id: id, installation: installation, privateKeyPEM: key.value)
                    } catch {
                        appOptions.error(appOptions.has("privateKeyFile") ? "privateKeyFile" : "privateKey", "\(error)")
                    }
                }
            }
            if !owner.isEmpty, !owner.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) {
                options.error("owner", "\"\(owner)\" is not a GitHub login")
            }
            let client = try HTTPClient(configuration)
            let rateLimit = GitHubRateLimit(key: options.pointer.description)
            context.metrics(rateLimit)
            let api: GitHubAPI
            let credentials: GitHubCredentials
            if let app {
                var endpoint = base
                if endpoint.path.hasSuffix("/") { endpoint.path.removeLast() }
                let tokens = InstallationTokenCache(app: app, endpoint: "\(endpoint.origin)\(endpoint.path)/app/installations/\(app.installation)/access_tokens",
                                                    client: client, rateLimit: rateLimit, callTimeout: timeout.seconds)
                credentials = .app(tokens)
            } else if let token {
                credentials = .token(token)
            } else {
                options.warning(nil, "no \"app\" or \"token\": only public repositories are visible, at 60 API calls an hour")
                credentials = .anonymous
            }
            api = GitHubAPI(base: base, client: client, credentials: credentials, rateLimit: rateLimit, slots: slots)
            return GitHubSource(name: name, owner: owner, api: api, credentials: credentials, rateLimit: rateLimit,
                                cache: GitHubMetadataCache(freshFor: freshFor, maxBytes: cacheBytes), maxFileBytes: maxFileBytes)
        })
}
