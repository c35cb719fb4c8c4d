import Pipeline
import Synchronization

/// `oci`: repositories of an OCI Distribution registry (docker-registry, zot, Harbor, GHCR, ECR…),
/// read-only. Tags with every page of their `Link` pagination, manifests and indexes with the
/// Accept types registries insist on, each verified against its digest and capped at 4 MiB, and
/// blobs as upstream requests (cached by digest, redirects followed without credentials).
///
/// Metadata is kept: an answer younger than `freshFor` costs no request, an older one one
/// conditional request (`If-None-Match` with the ETag the registry gave); manifests fetched by
/// digest are kept for good, as they cannot change.
///
/// ```json
/// "providers-oci": {"type": "oci", "url": "http://127.0.0.1:5000",
///                   "repository": "terraform-providers/${hostname}/${namespace}/${type}"}
/// ```
public final class OCISource: OCIStore, Source {
    public let name: String
    let registry: OCIRegistryClient
    /// The repository template (`${name}` variables).
    let template: String
    let cache: OCIMetadataCache
    /// `${hostname}` when `terraform.registry` reads this source as its provider registry.
    let providersHostname: String?
    static let maxManifestBytes = 4 << 20
    static let maxTagPages = 100

    init(name: String, registry: OCIRegistryClient, template: String, freshFor: Duration, providersHostname: String?) {
        self.name = name
        self.providersHostname = providersHostname
        self.registry = registry
        self.template = template
        cache = OCIMetadataCache(freshFor: freshFor, maxEntries: 10_000)
    }

    /// How many requests reached the registry so far (tokens included).
    public var registryRequests: Int { registry.requests }

    public static let type = SourceType(
        name: "oci", summary: "Repositories of an OCI Distribution registry: tags, manifests and indexes, blobs (read-only).",
        capabilities: ["an OCI store", "Terraform providers of its own"],
        options: [
            OptionSpec("url", "string", "the registry's base URL, e.g. https://ghcr.io or http://127.0.0.1:5000", required: true),
            OptionSpec("repository", "string", "repository name template, e.g. \"terraform-providers/${hostname}/${namespace}/${type}\"",
                       required: true),
            OptionSpec("username", "string", "user for Basic auth or for the token service (with password)"),
            OptionSpec("password", "secret", "password or access token (or passwordFile)"),
            OptionSpec("caFile", "path", "extra CA certificates (PEM) for a registry with a private CA"),
            OptionSpec("freshFor", "duration", "how long tags and manifests by tag are used before they are revalidated", default: "60s"),
            OptionSpec("timeout", "duration", "connect and first-byte timeout of registry requests", default: "30s"),
            OptionSpec("providersHostname", "string", "${hostname} when terraform.registry serves providers.v1 from this source"),
        ],
        build: { options, _ in
            let name = options.pointer.tokens.last ?? "oci"
            let text = options.string("url", required: true) ?? ""
            var base = HTTPURL(text)
            if base == nil, !text.isEmpty { options.error("url", HTTPURL.problem(with: text)) }
            if let parsed = base, parsed.query != nil { options.error("url", "must not have a query") }
            if base != nil, base!.path.hasSuffix("/") { base!.path.removeLast() }
            let template = options.string("repository", required: true) ?? ""
            if !template.isEmpty {
                let sample = OCISource.expand(template, ["hostname": "example.com", "namespace": "acme", "type": "hello"])
                if sample.map(OCIName.isValidRepository) != true {
                    options.error("repository", "does not make an OCI repository name (lower-case a-z, 0-9, separators . _ __ -, / between parts; ${hostname}, ${namespace}, ${type})")
                }
            }
            let username = options.string("username")
            let password = options.secret("password")
            if (username == nil) != (password == nil) {
                options.error(username == nil ? "username" : "password", "give \"username\" and \"password\" together")
            }
            var configuration = HTTPClient.Configuration()
            configuration.caFile = options.pemFile("caFile", .caCertificates)
            let timeout = options.duration("timeout", default: .seconds(30))
            configuration.connectTimeout = timeout
            configuration.firstByteTimeout = timeout
            let freshFor = options.duration("freshFor", default: .seconds(60))
            let client = try HTTPClient(configuration)
            let registry = OCIRegistryClient(base: base ?? HTTPURL(scheme: "http", host: "127.0.0.1", path: ""), client: client,
                                             username: username, password: password, sourceName: name)
            return OCISource(name: name, registry: registry, template: template, freshFor: freshFor,
                             providersHostname: options.string("providersHostname")?.lowercasedASCII())
        })

    // MARK: Names

    public func repository(_ variables: [String: String]) -> String? {
        guard let name = Self.expand(template, variables.mapValues { $0.lowercasedASCII() }), OCIName.isValidRepository(name) else { return nil }
        return name
    }

    /// `template` with each `${key}` replaced; nil when it names a variable not given.
    static func expand(_ template: String, _ variables: [String: String]) -> String? {
        var result = ""
        var rest = Substring(template)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else { return nil }
            guard let value = variables[String(rest[start.upperBound..<end])] else { return nil }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    // MARK: Tags

    public func tags(repository: String) async throws -> [String]? {
        guard OCIName.isValidRepository(repository) else { return nil }
        let registry = self.registry, sourceName = name
        let value = try await cache.value("tags " + repository) { previous in
            var tags: [String] = []
            var firstETag: String?
            var next: String? = registry.url("/v2/\(repository)/tags/list")
            var pages = 0
            while let current = next {
                pages += 1
                guard pages <= Self.maxTagPages else {
                    Log.warning("oci tag list cut short", [("source", sourceName), ("repository", repository), ("pages", String(Self.maxTagPages))])
                    break
                }
                var headers: HTTPFields = ["Accept": "application/json"]
                // A list that fit one page is revalidated with its ETag (a 304 keeps it).
                if pages == 1, let etag = previous?.etag { headers["If-None-Match"] = etag }
                guard let request = Request(url: current, headers: headers) else { break }
                let response = try await Self.call(registry, request, repository: repository, sourceName: sourceName)
                if response.status == .notModified, pages == 1, let previous {
                    _ = try? await response.body.collect(upTo: 64 * 1024)
                    return previous
                }
                let body = try await Self.collect(response, limit: 4 << 20, what: "tag list", sourceName: sourceName)
                if pages == 1 { firstETag = response.headers["ETag"] }
                if response.status == .notFound, pages == 1 { return OCIMetadataCache.Loaded(value: nil as [String]?, etag: nil) }
                guard response.status == .ok else { throw Self.unexpected(response.status, body, what: "tag list", sourceName) }
                guard let json = try? JSONParser.parse(body) else {
                    throw Self.bad("the tag list of \(repository) is not JSON", sourceName)
                }
                // `"tags": null` once the last tag is deleted (oci.md §2.3).
                tags += json["tags"]?.array?.compactMap(\.string) ?? []
                next = nil
                if let link = LinkHeader(response.headers.values("Link")).next, let target = response.url.resolving(link),
                   target.origin == registry.base.origin {
                    next = "\(target.origin)\(target.path)" + (target.query.map { "?" + $0 } ?? "")
                }
            }
            return OCIMetadataCache.Loaded(value: tags as [String]?, etag: pages == 1 ? firstETag : nil)
        }
        return value as? [String]
    }

    // MARK: Manifests

    public func manifest(repository: String, reference: String) async throws -> OCIManifest? {
        guard OCIName.isValidRepository(repository) else { return nil }
        let byDigest = OCIDigest.hex(of: reference) != nil
        guard byDigest || OCIName.isValidTag(reference) else { return nil }
        let registry = self.registry, sourceName = name
        // A manifest by digest never changes: kept for good.
        let value = try await cache.value("manifest \(repository)@\(reference)", immutable: byDigest) { previous in
            var headers: HTTPFields = ["Accept": OCIMediaType.accept]
            if let etag = previous?.etag { headers["If-None-Match"] = etag }
            guard let request = Request(url: registry.url("/v2/\(repository)/manifests/\(reference)"), headers: headers) else {
                return OCIMetadataCache.Loaded(value: nil as OCIManifest?, etag: nil)
            }
            let response = try await Self.call(registry, request, repository: repository, sourceName: sourceName)
            if response.status == .notModified, let previous {
                _ = try? await response.body.collect(upTo: 64 * 1024)
                return previous
            }
            if let length = response.body.length, length > Self.maxManifestBytes {
                throw Self.bad("the manifest \(repository):\(reference) is \(length) bytes, over the 4 MiB limit", sourceName)
            }
            let body = try await Self.collect(response, limit: Self.maxManifestBytes, what: "manifest \(repository):\(reference)",
                                              sourceName: sourceName)
            if response.status == .notFound { return OCIMetadataCache.Loaded(value: nil as OCIManifest?, etag: nil) }
            guard response.status == .ok else { throw Self.unexpected(response.status, body, what: "manifest", sourceName) }
            let digest = OCIDigest.of(body)
            let expected = byDigest ? reference : response.headers["Docker-Content-Digest"].flatMap { OCIDigest.hex(of: $0) != nil ? $0 : nil }
            if let expected, expected != digest {
                throw Self.bad("the manifest \(repository):\(reference) does not match its digest \(expected) (got \(digest))", sourceName)
            }
            guard let json = try? JSONParser.parse(body), json.object != nil else {
                throw Self.bad("the manifest \(repository):\(reference) is not a JSON object", sourceName)
            }
            let contentType = response.headers["Content-Type"]?.split(separator: ";").first.map { String($0).trimmingASCIIWhitespace().lowercasedASCII() }
            let declared = json["mediaType"]?.string
            if let declared, let contentType, declared != contentType {
                throw Self.bad("the manifest \(repository):\(reference) says \(declared) but came as \(contentType)", sourceName)
            }
            guard let mediaType = declared ?? contentType else {
                throw Self.bad("the manifest \(repository):\(reference) has no media type", sourceName)
            }
            let manifest = OCIManifest(mediaType: mediaType, digest: digest, bytes: body, json: json)
            return OCIMetadataCache.Loaded(value: manifest as OCIManifest?, etag: response.headers["ETag"])
        }
        return value as? OCIManifest
    }

    // MARK: Blobs

    public func blobRequest(repository: String, digest: String) throws -> Request {
        guard OCIName.isValidRepository(repository), OCIDigest.hex(of: digest) != nil,
              var request = Request(url: registry.url("/v2/\(repository)/blobs/\(digest)")) else {
            throw HTTPError(.notFound, "not found")
        }
        request.headers["Accept"] = "*/*"
        let registry = self.registry
        request.upstream = UpstreamOptions(client: registry.client, followRedirects: true,
                                           cacheKey: "oci:\(registry.base.origin)/\(repository)@\(digest)", immutable: true,
                                           fetch: { request, deadline in
                                               try await registry.send(request, repository: repository, deadline: deadline)
                                           })
        return request
    }

    public func blob(repository: String, digest: String, limit: Int) async throws -> [UInt8]? {
        guard OCIName.isValidRepository(repository), OCIDigest.hex(of: digest) != nil else { return nil }
        let registry = self.registry, sourceName = name
        let value = try await cache.value("blob \(repository)@\(digest)", immutable: true) { _ in
            guard let request = Request(url: registry.url("/v2/\(repository)/blobs/\(digest)")) else {
                return OCIMetadataCache.Loaded(value: nil as [UInt8]?, etag: nil)
            }
            let response = try await Self.call(registry, request, repository: repository, sourceName: sourceName)
            let body = try await Self.collect(response, limit: limit, what: "blob \(digest)", sourceName: sourceName)
            if response.status == .notFound { return OCIMetadataCache.Loaded(value: nil as [UInt8]?, etag: nil) }
            guard response.status == .ok else { throw Self.unexpected(response.status, body, what: "blob", sourceName) }
            guard OCIDigest.of(body) == digest else { throw Self.bad("the blob \(repository)@\(digest) does not match its digest", sourceName) }
            return OCIMetadataCache.Loaded(value: body as [UInt8]?, etag: nil)
        }
        return value as? [UInt8]
    }

    // MARK: Helpers

    private static func call(_ registry: OCIRegistryClient, _ request: Request, repository: String, sourceName: String) async throws -> ClientResponse {
        do {
            return try await registry.send(request, repository: repository)
        } catch let error as ClientError {
            Log.error("oci registry unavailable", [("source", sourceName), ("reason", error.description)])
            throw HTTPError(error.isTimeout ? .gatewayTimeout : .badGateway, "the OCI registry is unavailable")
        }
    }

    private static func collect(_ response: ClientResponse, limit: Int, what: String, sourceName: String) async throws -> [UInt8] {
        do {
            return try await response.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw bad("the \(what) is over the \(limit >> 20) MiB limit", sourceName)
        } catch let error as ClientError {
            Log.error("oci registry unavailable", [("source", sourceName), ("reason", error.description)])
            throw HTTPError(.badGateway, "the OCI registry is unavailable")
        }
    }

    /// A registry answer that cannot be used: logged, 502 for the client.
    static func bad(_ reason: String, _ sourceName: String) -> HTTPError {
        Log.error("oci registry answer refused", [("source", sourceName), ("reason", reason)])
        return HTTPError(.badGateway, "the OCI registry's answer cannot be used")
    }

    private static func unexpected(_ status: HTTPStatus, _ body: [UInt8], what: String, _ sourceName: String) -> HTTPError {
        Log.error("oci registry request failed", [("source", sourceName), ("what", what), ("status", String(status.code)),
                                                  ("reason", OCIRegistryClient.errorMessage(body))])
        if status.code == 429 || status.code == 503 { return HTTPError(.serviceUnavailable, "the OCI registry is busy", headers: ["Retry-After": "30"]) }
        return HTTPError(.badGateway, "the OCI registry is unavailable")
    }
}

/// Small registry answers by key: fresh for `freshFor` (immutable ones for good), then reloaded
/// with the previous answer at hand (for its ETag); one load per key however many ask; at most
/// `maxEntries` kept (the least recently used go first).
final class OCIMetadataCache: Sendable {
    struct Loaded: Sendable {
        let value: any Sendable
        let etag: String?
    }

    private struct Entry {
        var loaded: Loaded
        var validatedAt: ContinuousClock.Instant
        var immutable: Bool
        var lastUsed: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var flights: [String: Task<Loaded, any Error>] = [:]
        var tick: UInt64 = 0
    }

    let freshFor: Duration
    let maxEntries: Int
    private let state = Mutex(State())

    init(freshFor: Duration, maxEntries: Int) {
        self.freshFor = freshFor
        self.maxEntries = maxEntries
    }

    func value(_ key: String, immutable: Bool = false, load: @escaping @Sendable (Loaded?) async throws -> Loaded) async throws -> any Sendable {
        enum Step {
            case fresh(any Sendable)
            case wait(Task<Loaded, any Error>)
        }
        let now = ContinuousClock.now
        let freshFor = self.freshFor
        // A fresh answer is returned under the lock, with no task: the common case costs one lookup.
        let step: Step = state.withLock { state in
            state.tick += 1
            if var entry = state.entries[key], entry.immutable || now - entry.validatedAt < freshFor {
                entry.lastUsed = state.tick
                state.entries[key] = entry
                return .fresh(entry.loaded.value)
            }
            if let flight = state.flights[key] { return .wait(flight) }
            let previous = state.entries[key]?.loaded
            let task = Task(executorPreference: EventLoop.current) { try await load(previous) }
            state.flights[key] = task
            return .wait(task)
        }
        let task: Task<Loaded, any Error>
        switch step {
        case .fresh(let value): return value
        case .wait(let running): task = running
        }
        do {
            let loaded = try await task.value
            store(key, loaded, immutable: immutable, task: task)
            return loaded.value
        } catch {
            state.withLock { state in
                if state.flights[key] == task { state.flights[key] = nil }
            }
            throw error
        }
    }

    private func store(_ key: String, _ loaded: Loaded, immutable: Bool, task: Task<Loaded, any Error>) {
        state.withLock { state in
            guard state.flights[key] == task else { return }
            state.flights[key] = nil
            state.tick += 1
            state.entries[key] = Entry(loaded: loaded, validatedAt: .now, immutable: immutable, lastUsed: state.tick)
            if state.entries.count > maxEntries {
                let excess = state.entries.count - maxEntries + maxEntries / 10
                for (key, _) in state.entries.sorted(by: { $0.value.lastUsed < $1.value.lastUsed }).prefix(excess) {
                    state.entries[key] = nil
                }
            }
        }
    }
}
