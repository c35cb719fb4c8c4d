import Pipeline

/// `terraform.registry`: service discovery, `modules.v1`, `providers.v1` and the provider network
/// mirror, from the sources configured for modules and providers (terraform.md §1–4).
///
/// Sources are read through views this folder owns (RegistryViews: a file tree, a release feed).
/// Metadata is answered here; archives and provider files come from a file or down the chain (a
/// GitHub asset through the stack's `cache` and `upstream`), and so do the package zips the mirror
/// hashes for its `h1:` values, in the background: with a cache after the registry, a zip is
/// fetched once for the hash and the clients' downloads. Archive and file URLs are absolute
/// gateway URLs, signed when the pipeline has URL signing keys, because Terraform sends no
/// credentials when it downloads (terraform.md §0).
public struct TerraformRegistry: Middleware, Stoppable, DeclaresAnonymousPaths {
    let modules: (any ModuleRegistrySource)?
    let providers: (any ProviderRegistrySource)?
    let prefix: String
    let mirror: Bool
    let signingKeys: [(id: String, armor: String)]
    /// The chain after the registry, for the package zips hashed in the background.
    let downstream: Downstream
    let metadataCacheControl: String
    /// Provider hostnames the mirror answers for besides the gateway's own.
    let mirrorHostnames: [String]
    /// Signs archive and file URLs (Terraform downloads them without credentials) when the stack has auth.
    let signer: URLSigner?
    /// The views with background work this registry made (a release feed's asset downloads).
    var owned: [any Stoppable] = []

    public static let type = MiddlewareType(
        name: "terraform.registry",
        summary: "Terraform service discovery, modules.v1, providers.v1 and the provider network mirror.",
        // Before a cache, the cache keeps the GitHub objects it fetches (by their cache keys).
        phase: .behaviour, mayPrecede: [.cache],
        options: [
            OptionSpec("modules", "string", "source of modules (a name in \"sources\")"),
            OptionSpec("providers", "string", "source of providers (a name in \"sources\")"),
            OptionSpec("prefix", "string", "path under which the services live", default: "/v1/"),
            OptionSpec("mirror", "bool", "serve the provider network mirror protocol under <prefix>mirror/", default: "true"),
            OptionSpec("signingKeys", "[path]", "ASCII-armored OpenPGP public keys whose signatures cover provider SHA256SUMS"),
            OptionSpec("namespace", "string", "module/provider namespace for a github source", default: "the owner"),
            OptionSpec("monorepos", "[object]", "github modules kept together: {\"repository\", \"tagPattern\": \"{name}/{system}/v{version}\"}"),
            OptionSpec("metadataCacheControl", "string", "Cache-Control of versions and download answers", default: "no-cache"),
            OptionSpec("signURLs", "bool", "sign archive and file URLs; default: when an auth middleware comes before"),
            OptionSpec("mirrorHostnames", "[string]", "provider hostnames the mirror serves besides the gateway's own (e.g. \"registry.acme.example\")"),
        ],
        build: { options, context in
            var modules: (any ModuleRegistrySource)?
            var providers: (any ProviderRegistrySource)?
            let downstream = context.downstream()
            let views = RegistryViews(options: options, downstream: downstream, context: context)
            if let name = options.string("modules") {
                modules = context.source(name, at: options.pointer.appending("modules"), for: "Terraform modules", views: views.modules)
            }
            if let name = options.string("providers") {
                providers = context.source(name, at: options.pointer.appending("providers"), for: "Terraform providers", views: views.providers)
            }
            if !options.has("modules") && !options.has("providers") {
                options.error(nil, "give \"modules\", \"providers\" or both (names of sources)")
            }
            var prefix = options.string("prefix") ?? "/v1/"
            if !prefix.hasPrefix("/") { options.error("prefix", "must start with /") }
            if !prefix.hasSuffix("/") { prefix += "/" }
            var keys: [(String, String)] = []
            for path in options.strings("signingKeys") {
                do {
                    let armor = String(decoding: try options.environment.readFile(path, limit: 1 << 20), as: UTF8.self)
                    guard let id = OpenPGPArmor.keyID(ofArmoredPublicKey: armor) else {
                        options.error("signingKeys", "\(path) is not an ASCII-armored OpenPGP v4 public key")
                        continue
                    }
                    keys.append((id, armor))
                } catch {
                    options.error("signingKeys", "\(error)")
                }
            }
            let sign = options.bool("signURLs", default: context.isBehindAuth)
            let signer = sign ? context.signerForMinting(at: options.pointer) : nil
            if providers != nil, keys.isEmpty {
                options.warning("signingKeys", "no signing keys: Terraform will refuse providers from this registry (it verifies SHA256SUMS signatures)")
            }
            var registry = TerraformRegistry(modules: modules, providers: providers, prefix: prefix, mirror: options.bool("mirror", default: true),
                                     signingKeys: keys, downstream: downstream,
                                     metadataCacheControl: options.string("metadataCacheControl") ?? "no-cache",
                                     mirrorHostnames: options.strings("mirrorHostnames").map { $0.lowercased() }, signer: signer)
            registry.owned = views.owned
            return registry
        })

    /// Discovery must never ask for credentials, nor fail on stale ones (terraform.md §1, login
    /// gotcha): every auth gate of the registry's stack lets it through.
    public var anonymousPaths: [String] { ["/.well-known/terraform.json"] }

    /// Stops the background work of the views it made (their downloads in flight).
    public func stop() async {
        for value in owned { await value.stop() }
    }

    /// The endpoints under `prefix` (terraform.md §2–§4).
    enum Endpoint: Sendable {
        case moduleVersions, moduleDownload, moduleArchive
        case providerVersions, providerDownload, providerFile
        case mirror
    }

    static let routes = RouteTable<Endpoint>([
        ("/modules/:namespace/:name/:system/versions", .moduleVersions),
        ("/modules/:namespace/:name/:system/:version/download", .moduleDownload),
        ("/modules/:namespace/:name/:system/:version/archive/:archive", .moduleArchive),
        ("/providers/:namespace/:type/versions", .providerVersions),
        ("/providers/:namespace/:type/:version/download/:os/:arch", .providerDownload),
        ("/providers/:namespace/:type/:version/files/:file", .providerFile),
        ("/mirror/:hostname/:namespace/:type/:document", .mirror),
    ])

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Self.error(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        if request.path == "/.well-known/terraform.json" { return discovery() }
        guard request.path.hasPrefix(prefix), let found = Self.routes.match(request.path.dropFirst(prefix.count - 1)) else {
            return Self.error(.notFound, "not found")
        }
        do {
            switch found.route {
            case .moduleVersions, .moduleDownload, .moduleArchive:
                guard let modules else { return Self.error(.notFound, "not found") }
                return try await moduleRoute(found, modules, request, context, next)
            case .providerVersions, .providerDownload, .providerFile:
                guard let providers else { return Self.error(.notFound, "not found") }
                return try await providerRoute(found, providers, request, context, next)
            case .mirror:
                guard let providers, mirror else { return Self.error(.notFound, "not found") }
                return try await mirrorRoute(found, providers, request, context)
            }
        } catch let error as HTTPError where error.status.code >= 400 && error.status != .unauthorized {
            // In the registry's error shape, with the error's headers (a 503's Retry-After).
            return Self.error(error.status, error.message, headers: error.headers)
        }
    }

    // MARK: Discovery

    func discovery() -> Response {
        var object = JSONObject()
        if modules != nil { object["modules.v1"] = .string(prefix + "modules/") }
        if providers != nil { object["providers.v1"] = .string(prefix + "providers/") }
        var response = Response.json(.object(object))
        response.headers["Cache-Control"] = "max-age=300"
        return response
    }

    // MARK: Modules

    func moduleRoute(_ found: RouteMatch<Endpoint>, _ modules: any ModuleRegistrySource, _ request: Request, _ context: Context,
                     _ next: Next) async throws -> Response {
        let module = ModuleAddress(namespace: found["namespace"], name: found["name"], system: found["system"])
        let version = found["version"]
        switch found.route {
        case .moduleVersions:
            guard let index = try await modules.moduleVersions(module), !index.entries.isEmpty else {
                return Self.error(.notFound, "module \(module) not found")
            }
            var entry = JSONObject()
            entry["id"] = .string(module.description)
            if let source = modules.moduleSourceURL(module) { entry["source"] = .string(source) }
            entry["versions"] = .array(index.entries.map { .object(JSONObject([("version", .string($0.version.description))])) })
            return metadata(.object(JSONObject([("modules", .array([.object(entry)]))])))
        case .moduleDownload:
            let (_, revision) = try await resolveModule(modules, module, version: version)
            let location = absoluteURL(request, context, path: prefix + "modules/\(module)/\(version)/archive/\(revision).tar.gz")
            // Terraform reads only X-Terraform-Get (204); OpenTofu prefers {"location"} on 200 (terraform.md §2.2).
            if request.headers["User-Agent"]?.contains("OpenTofu") == true {
                var response = metadata(.object(JSONObject([("location", .string(location))])))
                response.headers["X-Terraform-Get"] = location
                return response
            }
            return Response(status: .noContent, headers: ["X-Terraform-Get": location, "Cache-Control": metadataCacheControl], body: .empty)
        case .moduleArchive:
            let archive = found["archive"]
            guard archive.hasSuffix(".tar.gz") else { return Self.error(.notFound, "not found") }
            let revision = String(archive.dropLast(7))
            let (ref, current) = try await resolveModule(modules, module, version: version)
            guard current == revision else { return Self.error(.notFound, "this archive URL is out of date; ask for the download again") }
            if request.method == .head {
                return Response(headers: ["Content-Type": "application/gzip", "Cache-Control": "max-age=31536000, immutable"],
                                body: ResponseBody(content: .empty, length: nil))
            }
            let object = try await modules.moduleArchive(module, ref: ref, revision: revision)
            var response = try await serve(object, contentType: "application/gzip", request, context, next)
            response.headers["Cache-Control"] = "max-age=31536000, immutable"
            return response
        default:
            return Self.error(.notFound, "not found")
        }
    }

    func resolveModule(_ modules: any ModuleRegistrySource, _ module: ModuleAddress, version: String) async throws -> (ref: String, revision: String) {
        guard let index = try await modules.moduleVersions(module) else { throw HTTPError(.notFound, "module \(module) not found") }
        guard let ref = index.ref(for: version) else { throw HTTPError(.notFound, "module \(module) has no version \(version)") }
        guard let revision = try await modules.moduleRevision(module, ref: ref) else { throw HTTPError(.notFound, "module \(module) has no version \(version)") }
        return (ref, revision)
    }

    // MARK: Providers

    func providerRoute(_ found: RouteMatch<Endpoint>, _ providers: any ProviderRegistrySource, _ request: Request, _ context: Context,
                       _ next: Next) async throws -> Response {
        let provider = ProviderAddress(namespace: found["namespace"], type: found["type"])
        let version = found["version"]
        switch found.route {
        case .providerVersions:
            guard let releases = try await providers.providerReleases(provider), !releases.isEmpty else {
                return Self.error(.notFound, "provider \(provider) not found")
            }
            let versions: [JSONValue] = releases.map { release in
                .object(JSONObject([
                    ("version", .string(release.version.description)),
                    ("protocols", .array(release.protocols.map(JSONValue.string))),
                    ("platforms", .array(release.packages.map { .object(JSONObject([("os", .string($0.os)), ("arch", .string($0.arch))])) })),
                ]))
            }
            return metadata(.object(JSONObject([("versions", .array(versions))])))
        case .providerDownload:
            let release = try await findRelease(providers, provider, version: version)
            let os = found["os"], arch = found["arch"]
            guard let package = release.packages.first(where: { $0.os == os && $0.arch == arch }) else {
                return Self.error(.notFound, "provider \(provider) \(version) has no package for \(os)_\(arch)")
            }
            let files = prefix + "providers/\(provider)/\(release.version)/files/"
            var object = JSONObject()
            object["protocols"] = .array(release.protocols.map(JSONValue.string))
            object["os"] = .string(package.os)
            object["arch"] = .string(package.arch)
            object["filename"] = .string(package.filename)
            object["download_url"] = .string(absoluteURL(request, context, path: files + package.filename))
            object["shasums_url"] = .string(absoluteURL(request, context, path: files + release.shasumsFilename))
            if let signature = release.signatureFilename {
                object["shasums_signature_url"] = .string(absoluteURL(request, context, path: files + signature))
            }
            object["shasum"] = .string(package.shasum)
            object["signing_keys"] = .object(JSONObject([("gpg_public_keys", .array(signingKeys.map { key in
                .object(JSONObject([("key_id", .string(key.id)), ("ascii_armor", .string(key.armor))]))
            }))]))
            return metadata(.object(object))
        case .providerFile:
            let release = try await findRelease(providers, provider, version: version)
            let name = found["file"]
            guard release.files.contains(name) else { return Self.error(.notFound, "no such file") }
            let object = try await providers.providerFile(provider, release: release, name: name)
            var response = try await serve(object, contentType: Self.contentType(ofProviderFile: name), request, context, next)
            response.headers["Cache-Control"] = "max-age=31536000, immutable"
            return response
        default:
            return Self.error(.notFound, "not found")
        }
    }

    func findRelease(_ providers: any ProviderRegistrySource, _ provider: ProviderAddress, version: String) async throws -> ProviderRelease {
        guard let releases = try await providers.providerReleases(provider) else { throw HTTPError(.notFound, "provider \(provider) not found") }
        guard let release = releases.first(where: { $0.version.description == version }) else {
            throw HTTPError(.notFound, "provider \(provider) has no version \(version)")
        }
        return release
    }

    // MARK: Network mirror

    func mirrorRoute(_ found: RouteMatch<Endpoint>, _ providers: any ProviderRegistrySource, _ request: Request,
                     _ context: Context) async throws -> Response {
        // Only providers of this gateway's own hostname (or configured ones) are ours; others 404 so
        // Terraform tries its other installation methods and a public provider is never shadowed.
        let hostname = found["hostname"].lowercased()
        guard hostname == request.authority.lowercased() || hostname == request.host || mirrorHostnames.contains(hostname) else {
            return Self.error(.notFound, "provider \(found["hostname"])/\(found["namespace"])/\(found["type"]) not found")
        }
        let provider = ProviderAddress(namespace: found["namespace"], type: found["type"])
        guard let releases = try await providers.providerReleases(provider), !releases.isEmpty else {
            return Self.error(.notFound, "provider \(provider) not found")
        }
        let document = found["document"]
        if document == "index.json" {
            let versions = JSONObject(releases.map { ($0.version.description, JSONValue.object(JSONObject())) })
            return metadata(.object(JSONObject([("versions", .object(versions))])))
        }
        guard document.hasSuffix(".json"), let release = releases.first(where: { $0.version.description == String(document.dropLast(5)) }) else {
            return Self.error(.notFound, "no such version")
        }
        let files = prefix + "providers/\(provider)/\(release.version)/files/"
        var archives = JSONObject()
        for package in release.packages {
            var list: [JSONValue] = []
            if let h1 = await h1(of: package, release, provider, providers) { list.append(.string(h1)) }
            list.append(.string("zh:" + package.shasum))
            archives["\(package.os)_\(package.arch)"] = .object(JSONObject([
                ("url", .string(absoluteURL(request, context, path: files + package.filename))),
                ("hashes", .array(list)),
            ]))
        }
        return metadata(.object(JSONObject([("archives", .object(archives))])))
    }

    /// The package's `h1:` when known. A package on disk is hashed now (quick enough to wait
    /// for); one fetched upstream is fetched down the chain and hashed in the background, so this
    /// answer stays fast (Terraform gives mirror metadata 10 s) and a later one carries it.
    func h1(of package: ProviderPackage, _ release: ProviderRelease, _ provider: ProviderAddress,
            _ providers: any ProviderRegistrySource) async -> String? {
        if let known = ProviderHashes.known.cached(package.shasum) { return known }
        guard let object = try? await providers.providerFile(provider, release: release, name: package.filename) else { return nil }
        let downstream = self.downstream
        let work: @Sendable () async throws -> String = {
            do {
                return try await ProviderHashes.hash(object, shasum: package.shasum, downstream: downstream)
            } catch {
                Log.warning("provider package not hashed", [("package", package.filename), ("reason", "\(error)")])
                throw error
            }
        }
        if case .file = object { return try? await ProviderHashes.known.value(for: package.shasum, work: work) }
        return ProviderHashes.known.peek(package.shasum, startingWith: work)
    }

    /// Answers with `object`: a file or a body as it is, an upstream object fetched down the chain.
    func serve(_ object: RegistryObject, contentType: String, _ request: Request, _ context: Context, _ next: Next) async throws -> Response {
        switch object {
        case .file(let file):
            return Response(headers: ["Content-Type": contentType], body: ResponseBody(file: file.region()))
        case .body(let body):
            return Response(headers: ["Content-Type": contentType], body: body)
        case .upstream(let upstreamRequest, let length):
            if request.method == .head {
                var headers: HTTPFields = ["Content-Type": contentType]
                if let length { headers["Content-Length"] = String(length) }
                return Response(headers: headers, body: ResponseBody(content: .empty, length: nil))
            }
            var response = try await next(upstreamRequest, context)
            guard response.status == .ok else { throw Self.failure(response.status, object: request.path) }
            response.headers = ["Content-Type": contentType]
            return response
        case .repositoryTarball(let upstreamRequest, let subdirectory):
            let upstream = try await next(upstreamRequest, context)
            guard upstream.status == .ok else { throw Self.failure(upstream.status, object: request.path) }
            let source = upstream.body
            return Response(headers: ["Content-Type": contentType], body: ResponseBody { writer in
                let transform = try ReRootingTransform(subdirectory: subdirectory)
                try await source.write(to: ChunkSink { chunk in
                    let out = try transform.process(chunk)
                    if !out.isEmpty { try await writer.write(out) }
                })
                try await writer.write(try transform.finish())
            })
        }
    }

    /// What a client is told when the source did not deliver an object: 404 as it is; any other
    /// status a short 502, the status itself only in the log (clients learn nothing of the source).
    static func failure(_ status: HTTPStatus, object: String) -> HTTPError {
        guard status != .notFound else { return HTTPError(.notFound, "not found") }
        Log.warning("registry object not fetched", [("object", object), ("status", String(status.code))])
        return HTTPError(.badGateway, "upstream unavailable")
    }

    static func contentType(ofProviderFile name: String) -> String {
        name.hasSuffix(".zip") ? "application/zip" : name.hasSuffix(".sig") ? "application/pgp-signature" : "text/plain; charset=utf-8"
    }

    // MARK: Helpers

    func metadata(_ value: JSONValue) -> Response {
        var response = Response.json(value)
        response.headers["Cache-Control"] = metadataCacheControl
        return response
    }

    /// An absolute URL on this gateway, as the client addressed it, signed when URL signing is on.
    func absoluteURL(_ request: Request, _ context: Context, path: String) -> String {
        let encoded = PercentEncoding.encodePath(path)
        let target = signer.map { $0.sign(path: encoded) } ?? encoded
        return "\(context.scheme(of: request))://\(request.authority)\(target)"
    }

    /// `{"errors": [message]}`, the shape registry clients expect (terraform.md §2.4).
    static func error(_ status: HTTPStatus, _ message: String, headers: HTTPFields = [:]) -> Response {
        var response = Response.json(.object(JSONObject([("errors", .array([.string(message)]))])), status: status)
        for field in headers { response.headers.append(field) }
        return response
    }
}

/// A `ResponseBodyWriter` that hands each chunk to a closure (a transform inside a stream).
struct ChunkSink: ResponseBodyWriter {
    let body: @Sendable ([UInt8]) async throws -> Void
    init(_ body: @escaping @Sendable ([UInt8]) async throws -> Void) { self.body = body }
    func write(_ chunk: [UInt8]) async throws { try await body(chunk) }
}
