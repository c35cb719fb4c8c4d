import Pipeline

/// `terraform.registry`: service discovery, `modules.v1`, `providers.v1` and the provider network
/// mirror, from the sources configured for modules and providers (terraform.md §1–4).
///
/// Metadata is answered here; archives and provider files are streamed from the source (which may
/// send an upstream request down the chain). Archive and file URLs are absolute gateway URLs,
/// signed when the pipeline has URL signing keys, because Terraform sends no credentials when it
/// downloads (terraform.md §0).
public struct TerraformRegistry: Middleware {
    let modules: (any ModuleRegistrySource)?
    let providers: (any ProviderRegistrySource)?
    let prefix: String
    let mirror: Bool
    let signingKeys: [(id: String, armor: String)]
    let hashes: ProviderHashes
    let metadataCacheControl: String
    /// Provider hostnames the mirror answers for besides the gateway's own.
    let mirrorHostnames: [String]
    /// Signs archive and file URLs (Terraform downloads them without credentials) when the stack has auth.
    let signer: URLSigner?

    public static let type = MiddlewareType(
        name: "terraform.registry",
        summary: "Terraform service discovery, modules.v1, providers.v1 and the provider network mirror.",
        phase: .behaviour,
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
            var adapter = RegistryAdapters(options: options)
            if let name = options.string("modules") {
                modules = adapter.moduleSource(name, context: context, at: options.pointer.appending("modules"))
            }
            if let name = options.string("providers") {
                providers = adapter.providerSource(name, context: context, at: options.pointer.appending("providers"))
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
            // Discovery must never ask for credentials, nor fail on stale ones (terraform.md §1, login gotcha).
            context.anonymousPaths.add("/.well-known/terraform.json")
            let sign = options.bool("signURLs", default: context.isBehindAuth)
            let signer = sign ? context.signerForMinting(at: options.pointer) : nil
            if providers != nil, keys.isEmpty {
                options.warning("signingKeys", "no signing keys: Terraform will refuse providers from this registry (it verifies SHA256SUMS signatures)")
            }
            return TerraformRegistry(modules: modules, providers: providers, prefix: prefix, mirror: options.bool("mirror", default: true),
                                     signingKeys: keys, hashes: ProviderHashes(),
                                     metadataCacheControl: options.string("metadataCacheControl") ?? "no-cache",
                                     mirrorHostnames: options.strings("mirrorHostnames").map { $0.lowercased() }, signer: signer)
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Self.error(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        if request.path == "/.well-known/terraform.json" { return discovery() }
        guard request.path.hasPrefix(prefix) else { return Self.error(.notFound, "not found") }
        let parts = request.path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty }), let service = parts.first else { return Self.error(.notFound, "not found") }
        let rest = Array(parts.dropFirst()).map { PercentEncoding.decode($0) ?? "" }
        do {
            switch service {
            case "modules" where modules != nil:
                return try await moduleRoute(rest, request, context, next)
            case "providers" where providers != nil:
                return try await providerRoute(rest, request, context, next)
            case "mirror" where providers != nil && mirror:
                return try await mirrorRoute(rest, request, context)
            default:
                return Self.error(.notFound, "not found")
            }
        } catch let error as HTTPError where error.status.code >= 400 && error.status.code < 500 && error.status != .unauthorized {
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

    func moduleRoute(_ parts: [String], _ request: Request, _ context: Context, _ next: Next) async throws -> Response {
        guard let modules, parts.count >= 4 else { return Self.error(.notFound, "not found") }
        let module = ModuleAddress(namespace: parts[0], name: parts[1], system: parts[2])
        switch (parts.count, parts[parts.count == 4 ? 3 : 4]) {
        case (4, "versions"):
            guard let index = try await modules.moduleVersions(module), !index.entries.isEmpty else {
                return Self.error(.notFound, "module \(module) not found")
            }
            var entry = JSONObject()
            entry["id"] = .string(module.description)
            if let source = modules.moduleSourceURL(module) { entry["source"] = .string(source) }
            entry["versions"] = .array(index.entries.map { .object(JSONObject([("version", .string($0.version.description))])) })
            return metadata(.object(JSONObject([("modules", .array([.object(entry)]))])))
        case (5, "download"):
            let (_, revision) = try await resolveModule(modules, module, version: parts[3])
            let location = absoluteURL(request, context, path: prefix + "modules/\(module)/\(parts[3])/archive/\(revision).tar.gz")
            // Terraform reads only X-Terraform-Get (204); OpenTofu prefers {"location"} on 200 (terraform.md §2.2).
            if request.headers["User-Agent"]?.contains("OpenTofu") == true {
                var response = metadata(.object(JSONObject([("location", .string(location))])))
                response.headers["X-Terraform-Get"] = location
                return response
            }
            return Response(status: .noContent, headers: ["X-Terraform-Get": location, "Cache-Control": metadataCacheControl], body: .empty)
        case (6, "archive") where parts[5].hasSuffix(".tar.gz"):
            let revision = String(parts[5].dropLast(7))
            let (ref, current) = try await resolveModule(modules, module, version: parts[3])
            guard current == revision else { return Self.error(.notFound, "this archive URL is out of date; ask for the download again") }
            if request.method == .head {
                return Response(headers: ["Content-Type": "application/gzip", "Cache-Control": "max-age=31536000, immutable"],
                                body: ResponseBody(content: .empty, length: nil))
            }
            var response = try await modules.moduleArchive(module, ref: ref, revision: revision, request: request, context: context, next: next)
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

    func providerRoute(_ parts: [String], _ request: Request, _ context: Context, _ next: Next) async throws -> Response {
        guard let providers, parts.count >= 3 else { return Self.error(.notFound, "not found") }
        let provider = ProviderAddress(namespace: parts[0], type: parts[1])
        switch (parts.count, parts[parts.count == 3 ? 2 : 3]) {
        case (3, "versions"):
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
        case (6, "download"):
            let release = try await findRelease(providers, provider, version: parts[2])
            guard let package = release.packages.first(where: { $0.os == parts[4] && $0.arch == parts[5] }) else {
                return Self.error(.notFound, "provider \(provider) \(parts[2]) has no package for \(parts[4])_\(parts[5])")
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
        case (5, "files"):
            let release = try await findRelease(providers, provider, version: parts[2])
            let name = parts[4]
            guard release.files.contains(name) else { return Self.error(.notFound, "no such file") }
            var response = try await providers.providerFile(provider, release: release, name: name, request: request, context: context, next: next)
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

    func mirrorRoute(_ parts: [String], _ request: Request, _ context: Context) async throws -> Response {
        guard let providers, parts.count == 4 else { return Self.error(.notFound, "not found") }
        // Only providers of this gateway's own hostname (or configured ones) are ours; others 404 so
        // Terraform tries its other installation methods and a public provider is never shadowed.
        let hostname = parts[0].lowercased()
        guard hostname == request.authority.lowercased() || hostname == request.host || mirrorHostnames.contains(hostname) else {
            return Self.error(.notFound, "provider \(parts[0])/\(parts[1])/\(parts[2]) not found")
        }
        let provider = ProviderAddress(namespace: parts[1], type: parts[2])
        guard let releases = try await providers.providerReleases(provider), !releases.isEmpty else {
            return Self.error(.notFound, "provider \(provider) not found")
        }
        if parts[3] == "index.json" {
            let versions = JSONObject(releases.map { ($0.version.description, JSONValue.object(JSONObject())) })
            return metadata(.object(JSONObject([("versions", .object(versions))])))
        }
        guard parts[3].hasSuffix(".json"), let release = releases.first(where: { $0.version.description == String(parts[3].dropLast(5)) }) else {
            return Self.error(.notFound, "no such version")
        }
        let files = prefix + "providers/\(provider)/\(release.version)/files/"
        let local = providers.packagesAreLocal
        var archives = JSONObject()
        for package in release.packages {
            var list: [JSONValue] = []
            if let h1 = await hashes(for: providers, provider, release, package, wait: local) { list.append(.string(h1)) }
            list.append(.string("zh:" + package.shasum))
            archives["\(package.os)_\(package.arch)"] = .object(JSONObject([
                ("url", .string(absoluteURL(request, context, path: files + package.filename))),
                ("hashes", .array(list)),
            ]))
        }
        return metadata(.object(JSONObject([("archives", .object(archives))])))
    }

    func hashes(for source: any ProviderRegistrySource, _ provider: ProviderAddress, _ release: ProviderRelease, _ package: ProviderPackage,
                wait: Bool) async -> String? {
        await hashes.h1(for: package.shasum, wait: wait) {
            try await source.providerPackage(provider, release: release, package: package)
        }
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

extension ProviderRegistrySource {
    /// Whether package zips are on local disk, so hashing them is quick enough to wait for.
    public var packagesAreLocal: Bool { self is DirectorySource }
}
