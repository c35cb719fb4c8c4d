import Pipeline
import Synchronization

/// `oci.mirror`: Terraform's provider network mirror protocol (terraform.md §4) read from an OCI
/// store in OpenTofu's layout or the seed program's (OCIProviderLayout), so Terraform and OpenTofu
/// clients install providers kept in an OCI registry.
///
/// `GET <prefix><hostname>/<namespace>/<type>/index.json` lists the versions the repository's tags
/// name; `<version>.json` gives each platform's zip with both hashes: `zh:` (the layer digest) and
/// `h1:` (computed once per digest from the zip fetched down the chain, kept for the life of the
/// process, shared with `terraform.registry`). Archive URLs point back at the gateway
/// (`<prefix><hostname>/<namespace>/<type>/<version>/<file>.zip`) and are streamed from the
/// registry through the chain (a `cache` keeps them by digest), signed when the stack has auth,
/// since Terraform sends no credentials for archives. Unknown or unmappable providers answer 404
/// in the registry error shape, so Terraform falls through to its other installation methods.
public struct OCIMirror: Middleware {
    let store: any OCIStore
    let prefix: String
    let downstream: Downstream
    let signer: URLSigner?
    let metadataCacheControl: String
    /// How long a `<version>.json` waits for `h1:` hashes not known yet (Terraform gives it 10 s).
    let hashWait: Duration

    public static let type = MiddlewareType(
        name: "oci.mirror",
        summary: "Terraform's provider network mirror protocol from an OCI store (OpenTofu's layout, or the seed program's).",
        phase: .behaviour, mayPrecede: [.cache],
        options: [
            OptionSpec("source", "string", "an oci source (a name in \"sources\")", required: true),
            OptionSpec("prefix", "string", "path under which the mirror lives", default: "/mirror/"),
            OptionSpec("metadataCacheControl", "string", "Cache-Control of index.json and <version>.json", default: "no-cache"),
            OptionSpec("signURLs", "bool", "sign archive URLs; default: when an auth middleware comes before"),
            OptionSpec("hashWait", "duration", "how long <version>.json waits for h1: hashes not computed yet (then they follow later)",
                       default: "5s"),
        ],
        build: { options, context in
            let downstream = context.downstream()
            var store: (any OCIStore)?
            if let name = options.string("source", required: true) {
                store = context.source(name, at: options.pointer.appending("source"), for: "an OCI store", views: [
                    SourceView("an OCI store", as: (any OCIStore).self) { $0 },
                ])
            }
            var prefix = options.string("prefix") ?? "/mirror/"
            if !prefix.hasPrefix("/") { options.error("prefix", "must start with /") }
            if !prefix.hasSuffix("/") { prefix += "/" }
            let sign = options.bool("signURLs", default: context.isBehindAuth)
            return OCIMirror(store: store ?? UnavailableStore(), prefix: prefix, downstream: downstream,
                             signer: sign ? context.signerForMinting(at: options.pointer) : nil,
                             metadataCacheControl: options.string("metadataCacheControl") ?? "no-cache",
                             hashWait: options.duration("hashWait", default: .seconds(5)))
        })

    enum Endpoint: Sendable {
        case document, archive
    }

    static let routes = RouteTable<Endpoint>([
        ("/:hostname/:namespace/:type/:document", .document),
        ("/:hostname/:namespace/:type/:version/:file", .archive),
    ])

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return TerraformRegistry.error(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        guard request.path.hasPrefix(prefix), let found = Self.routes.match(request.path.dropFirst(prefix.count - 1)) else {
            return TerraformRegistry.error(.notFound, "not found")
        }
        let address = "\(found["hostname"])/\(found["namespace"])/\(found["type"])"
        guard let repository = store.repository(["hostname": found["hostname"], "namespace": found["namespace"], "type": found["type"]]) else {
            return TerraformRegistry.error(.notFound, "provider \(address) not found")
        }
        do {
            guard let tags = try await store.tags(repository: repository) else {
                return TerraformRegistry.error(.notFound, "provider \(address) not found")
            }
            let versions = OCIProviderLayout.versions(tags)
            switch found.route {
            case .document:
                let document = found["document"]
                if document == "index.json" {
                    guard !versions.isEmpty else { return TerraformRegistry.error(.notFound, "provider \(address) not found") }
                    let listed = JSONObject(versions.map { ($0.version.description, JSONValue.object(JSONObject())) })
                    return metadata(.object(JSONObject([("versions", .object(listed))])), complete: true)
                }
                guard document.hasSuffix(".json"), let entry = versions.first(where: { $0.version.description == document.dropLast(5) }),
                      let packages = try await OCIProviderLayout.packages(store, repository: repository, tag: entry.tag), !packages.isEmpty else {
                    return TerraformRegistry.error(.notFound, "provider \(address) has no version \(document.dropLast(5))")
                }
                return await versionDocument(packages, repository: repository, type: found["type"], version: entry.version.description,
                                             base: prefix + address, request, context)
            case .archive:
                let version = found["version"]
                guard let entry = versions.first(where: { $0.version.description == version }),
                      let packages = try await OCIProviderLayout.packages(store, repository: repository, tag: entry.tag),
                      let package = packages.first(where: { Self.filename(type: found["type"], version: version, $0) == found["file"] }) else {
                    return TerraformRegistry.error(.notFound, "not found")
                }
                return try await archive(package, repository: repository, request, context, next)
            }
        } catch let error as HTTPError where error.status.code >= 400 {
            return TerraformRegistry.error(error.status, error.message, headers: error.headers)
        }
    }

    static func filename(type: String, version: String, _ package: OCIProviderPackage) -> String {
        "terraform-provider-\(type)_\(version)_\(package.os)_\(package.arch).zip"
    }

    // MARK: <version>.json

    func versionDocument(_ packages: [OCIProviderPackage], repository: String, type: String, version: String, base: String,
                         _ request: Request, _ context: Context) async -> Response {
        let hashes = await h1Hashes(packages, repository: repository)
        var archives = JSONObject()
        for package in packages {
            var list: [JSONValue] = []
            if let h1 = hashes[package.digest] { list.append(.string(h1)) }
            list.append(.string(package.zh))
            let path = "\(base)/\(version)/\(Self.filename(type: type, version: version, package))"
            archives["\(package.os)_\(package.arch)"] = .object(JSONObject([
                ("url", .string(absoluteURL(request, context, path: path))),
                ("hashes", .array(list)),
            ]))
        }
        return metadata(.object(JSONObject([("archives", .object(archives))])), complete: hashes.count == Set(packages.map(\.digest)).count)
    }

    /// `h1:` by digest for the packages: known ones at once; the others fetched down the chain and
    /// hashed (each once, whoever asks), waited for up to `hashWait` in all.
    func h1Hashes(_ packages: [OCIProviderPackage], repository: String) async -> [String: String] {
        var known: [String: String] = [:]
        var waiting: [(digest: String, hex: String, work: @Sendable () async throws -> String)] = []
        for package in packages where known[package.digest] == nil {
            guard let hex = OCIDigest.hex(of: package.digest) else { continue }
            if let h1 = ProviderHashes.known.cached(hex) {
                known[package.digest] = h1
                continue
            }
            guard let blob = try? store.blobRequest(repository: repository, digest: package.digest) else { continue }
            let downstream = self.downstream, size = package.size
            let work: @Sendable () async throws -> String = {
                do {
                    return try await ProviderHashes.hash(.upstream(blob, length: size), shasum: hex, downstream: downstream)
                } catch {
                    Log.warning("provider package not hashed", [("repository", repository), ("digest", package.digest), ("reason", "\(error)")])
                    throw error
                }
            }
            if let h1 = ProviderHashes.known.peek(hex, startingWith: work) {
                known[package.digest] = h1
            } else if !waiting.contains(where: { $0.digest == package.digest }) {
                waiting.append((package.digest, hex, work))
            }
        }
        guard !waiting.isEmpty else { return known }
        let deadline = ContinuousClock.now + hashWait
        for item in waiting {
            let left = deadline - .now
            guard left > .zero else { break }
            let work = item.work, hex = item.hex
            if let h1 = await Self.within(left, { try? await ProviderHashes.known.value(for: hex, work: work) }) {
                known[item.digest] = h1
            }
        }
        return known
    }

    /// `work`'s result, or nil once `limit` has passed (the work goes on by itself).
    static func within(_ limit: Duration, _ work: @escaping @Sendable () async -> String?) async -> String? {
        await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let once = Once(continuation)
            Task(executorPreference: EventLoop.current) { once.finish(await work()) }
            Task(executorPreference: EventLoop.current) {
                try? await Task.sleep(for: limit)
                once.finish(nil)
            }
        }
    }

    /// Resumes a continuation with the first value given.
    final class Once: Sendable {
        private let continuation: Mutex<CheckedContinuation<String?, Never>?>
        init(_ continuation: CheckedContinuation<String?, Never>) { self.continuation = Mutex(continuation) }
        func finish(_ value: String?) {
            continuation.withLock { $0.take() }?.resume(returning: value)
        }
    }

    // MARK: Archives

    func archive(_ package: OCIProviderPackage, repository: String, _ request: Request, _ context: Context, _ next: Next) async throws -> Response {
        let immutable = "max-age=31536000, immutable"
        if request.method == .head {
            return Response(headers: ["Content-Type": "application/zip", "Content-Length": String(package.size), "Cache-Control": immutable],
                            body: ResponseBody(content: .empty, length: nil))
        }
        var blob = try store.blobRequest(repository: repository, digest: package.digest)
        for name in ["Range", "If-Range"] {
            if let value = request.headers[name] { blob.headers[name] = value }
        }
        let upstream = try await next(blob, context)
        guard upstream.status == .ok || upstream.status.code == 206 else {
            _ = try? await upstream.body.collect(upTo: 64 * 1024)
            guard upstream.status != .notFound else { throw HTTPError(.notFound, "not found") }
            Log.warning("oci blob not fetched", [("repository", repository), ("digest", package.digest), ("status", String(upstream.status.code))])
            throw HTTPError(.badGateway, "upstream unavailable")
        }
        var headers: HTTPFields = ["Content-Type": "application/zip", "Cache-Control": immutable]
        for name in ["Content-Range", "Accept-Ranges", "ETag"] {
            if let value = upstream.headers[name] { headers[name] = value }
        }
        return Response(status: upstream.status, headers: headers, body: upstream.body)
    }

    // MARK: Helpers

    /// JSON metadata; not cached by anyone while hashes are still missing (a later answer has them).
    func metadata(_ value: JSONValue, complete: Bool) -> Response {
        var response = Response.json(value)
        response.headers["Cache-Control"] = complete ? metadataCacheControl : "no-store"
        return response
    }

    /// An absolute URL on this gateway, as the client addressed it, signed when URL signing is on.
    func absoluteURL(_ request: Request, _ context: Context, path: String) -> String {
        let encoded = PercentEncoding.encodePath(path)
        let target = signer.map { $0.sign(path: encoded) } ?? encoded
        return "\(context.scheme(of: request))://\(request.authority)\(target)"
    }
}

/// Stands in when the configured source could not be used (the load fails anyway).
struct UnavailableStore: OCIStore {
    func repository(_ variables: [String: String]) -> String? { nil }
    func tags(repository: String) async throws -> [String]? { nil }
    func manifest(repository: String, reference: String) async throws -> OCIManifest? { nil }
    func blobRequest(repository: String, digest: String) throws -> Request { throw HTTPError(.notFound, "not found") }
    func blob(repository: String, digest: String, limit: Int) async throws -> [UInt8]? { nil }
}
