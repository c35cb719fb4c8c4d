import Foundation
import Pipeline

/// `apt.repository`: a signed Debian repository (apt.md) built from the `.deb` files of a source,
/// at the stack's path prefix: `<prefix>dists/<suite>/InRelease`, `Release`, `Release.gpg`,
/// `<component>/binary-<arch>/Packages{,.gz,.xz}` and their `by-hash/SHA256/<hex>` names,
/// `<prefix>pool/...` for the packages, and the public key at `<prefix>key.asc` and
/// `<prefix>key.gpg` (anonymous, for `Signed-By`).
///
/// ```json
/// {"type": "apt.repository", "source": "debs", "signingKeyFile": "keys/apt-signing.asc"}
/// ```
public struct APTRepository: Middleware, DeclaresAnonymousPaths {
    let state: APTIndexState?
    /// Set in branch mode: `dists/` comes from a branch instead of being built.
    let branch: APTBranchMetadata?
    let publicKeyArmored: [UInt8]?
    let publicKeyBinary: [UInt8]?
    /// The stack's path prefixes without their trailing `/`, longest first: the repository root.
    let roots: [String]

    public static let type = MiddlewareType(
        name: "apt.repository",
        summary: "A signed APT repository (InRelease, Packages, by-hash, pool) from the .deb files of a source.",
        phase: .behaviour,
        options: [
            OptionSpec("source", "string", "source of the .deb files (a name in \"sources\"): a directory or a github source", required: true),
            OptionSpec("signingKeyFile", "path", "unprotected ASCII-armored OpenPGP secret key (Ed25519 or RSA >= 3072) that signs the Release",
                       default: "required unless metadata is given"),
            OptionSpec("metadata", "object", "github: {\"branch\": \"apt-metadata\", \"repository\": NAME} serves dists/ as committed on that branch"),
            OptionSpec("suite", "string", "the suite (dists/<suite>)", default: "stable"),
            OptionSpec("components", "[string]", "components; a .deb in a folder named after one belongs to it, any other to the first",
                       default: "[\"main\"]"),
            OptionSpec("architectures", "[string]", "architectures listed in the Release", default: "those of the packages found"),
            OptionSpec("origin", "string", "Release Origin (never change it once clients use the repository)", default: "gateway"),
            OptionSpec("label", "string", "Release Label (never change it once clients use the repository)", default: "gateway"),
            OptionSpec("codename", "string", "Release Codename (never change it once clients use the repository)", default: "the suite"),
            OptionSpec("description", "string", "Release Description"),
            OptionSpec("freshFor", "duration", "how long an index is served before the source is checked for changes (a webhook checks at once)",
                       default: "1m"),
            OptionSpec("repositories", "[string]", "github: the repositories whose releases hold .deb assets", default: "all of the owner's"),
            OptionSpec("cacheDirectory", "path", "github: keeps what was read from each .deb asset across restarts"),
        ],
        build: { options, context in
            let name = options.string("source", required: true)
            var shape = APTRepositoryShape()
            shape.suite = options.string("suite") ?? "stable"
            if !Self.isSafePath(shape.suite) { options.error("suite", "use letters, digits, . _ - and / between parts") }
            if options.has("components") {
                shape.components = options.strings("components")
                if shape.components.isEmpty { options.error("components", "give at least one component") }
            }
            for component in shape.components where !Self.isSafeName(component) {
                options.error("components", "\"\(component)\" is not a plain name (letters, digits, . _ -)")
            }
            if options.has("architectures") {
                shape.architectures = options.strings("architectures")
                for architecture in shape.architectures ?? [] where !Self.isSafeName(architecture) || architecture == "all" {
                    options.error("architectures", "\"\(architecture)\" is not an architecture name (all is implied)")
                }
            }
            for (key, value) in [("origin", options.string("origin")), ("label", options.string("label")), ("codename", options.string("codename")),
                                 ("description", options.string("description"))] {
                guard let value else { continue }
                if value.isEmpty || value.contains(where: { $0.isNewline }) { options.error(key, "must be one non-empty line") }
                switch key {
                case "origin": shape.origin = value
                case "label": shape.label = value
                case "codename": shape.codename = value
                default: shape.description = value
                }
            }
            let freshFor = options.duration("freshFor", default: .seconds(60))
            var key: OpenPGPSecretKey?
            let metadata = options.object("metadata", allowed: ["branch", "repository"])
            if let path = options.path("signingKeyFile", required: metadata == nil) {
                do {
                    key = try OpenPGPSecretKey.read(try options.environment.readFile(path, limit: 1 << 20))
                } catch {
                    options.error("signingKeyFile", "\(error)")
                }
            }
            let repositories = options.has("repositories") ? options.strings("repositories") : nil
            let store = APTControlStore(directory: options.path("cacheDirectory"))
            let views = APTViews(repositories: repositories, downstream: context.downstream(), store: store)
            let source: (any APTPackageSource)? = name.flatMap {
                context.source($0, at: options.pointer.appending("source"), for: "APT packages", views: views.views)
            }
            var roots = context.stackPathPrefixes.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            if roots.isEmpty { roots = [""] }
            roots.sort { $0.count > $1.count }
            if let metadata {
                let branch = metadata.string("branch", required: true) ?? ""
                let repository = metadata.string("repository") ?? repositories?.first
                if repository == nil { metadata.error("repository", "required (or name the repository first in \"repositories\")") }
                let feed: (any ReleaseFeed)? = name.flatMap {
                    context.source($0, at: options.pointer.appending("source"), for: "APT metadata from a branch",
                                   views: [SourceView("a release feed (a branch of a repository and its releases)", as: (any ReleaseFeed).self) { $0 }])
                }
                guard let feed, let repository, !branch.isEmpty else { return Unbuilt() }
                APTPublished.publish(state: nil, shape: shape, context: context)
                return APTRepository(state: nil, branch: APTBranchMetadata(feed: feed, repository: repository, branch: branch, repositories: repositories),
                                     publicKeyArmored: key.map { Array($0.certificate.armored.utf8) }, publicKeyBinary: key?.certificate.binary,
                                     roots: roots)
            }
            // The reason was reported above; any error means no pipeline, so this value is never used.
            guard let key, let source else { return Unbuilt() }
            let renderer = APTIndexRenderer(shape: shape, signer: OpenPGPSigner(key: key))
            let state = APTIndexState(source: source, renderer: renderer, freshFor: freshFor)
            APTPublished.publish(state: state, shape: shape, context: context)
            return APTRepository(state: state, branch: nil,
                                 publicKeyArmored: Array(key.certificate.armored.utf8), publicKeyBinary: key.certificate.binary, roots: roots)
        })

    /// The public key is for anyone to fetch (clients install it before they have credentials).
    public var anonymousPaths: [String] { roots.flatMap { [$0 + "/key.asc", $0 + "/key.gpg"] } }

    enum Endpoint: Sendable {
        case dists, pool, keyArmored, keyBinary
    }

    static let routes = RouteTable<Endpoint>([
        ("/dists/*path", .dists),
        ("/pool/*path", .pool),
        ("/key.asc", .keyArmored),
        ("/key.gpg", .keyBinary),
    ])

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        guard let root = roots.first(where: { request.path.hasPrefix($0 + "/") }),
              let found = Self.routes.match(request.path.dropFirst(root.count)) else {
            throw HTTPError(.notFound, "not found")
        }
        switch found.route {
        case .keyArmored:
            guard let publicKeyArmored else { throw HTTPError(.notFound, "not found") }
            return Response(headers: ["Content-Type": "application/pgp-keys", "Cache-Control": "max-age=300"], body: ResponseBody(bytes: publicKeyArmored))
        case .keyBinary:
            guard let publicKeyBinary else { throw HTTPError(.notFound, "not found") }
            return Response(headers: ["Content-Type": "application/pgp-keys", "Cache-Control": "max-age=300"], body: ResponseBody(bytes: publicKeyBinary))
        case .dists where branch != nil:
            let path = "dists/" + (try Self.clean(found["path"]))
            guard let bytes = try await branch!.dists(path) else { throw HTTPError(.notFound, "not found") }
            return Self.respond(APTIndex.File(bytes, immutable: path.contains("/by-hash/")), path: path, date: nil, request: request)
        case .pool where branch != nil:
            let path = try Self.clean(found["path"])
            let name = String(path.split(separator: "/").last ?? "")
            guard name.hasSuffix(".deb"), let upstream = try await branch!.package(named: name) else { throw HTTPError(.notFound, "not found") }
            return try await forward(upstream, label: name, length: nil, request: request, context: context, next: next)
        case .dists:
            guard let state else { throw HTTPError(.notFound, "not found") }
            let path = "dists/" + (try Self.clean(found["path"]))
            let index = try await Self.index(of: state)
            guard let file = index.files[path] else { throw HTTPError(.notFound, "not found") }
            return Self.respond(file, path: path, date: index.date, request: request)
        case .pool:
            guard let state else { throw HTTPError(.notFound, "not found") }
            let path = "pool/" + (try Self.clean(found["path"]))
            let index = try await Self.index(of: state)
            guard let package = index.pool[path] else { throw HTTPError(.notFound, "not found") }
            return try await serve(package, request: request, context: context, next: next)
        }
    }

    /// The current index; when there is none yet and it cannot be built, a 503 with Retry-After
    /// (apt retries 503, apt.md §5.4) whose body names no source detail (that is in the log).
    static func index(of state: APTIndexState) async throws -> APTIndex {
        do {
            return try await state.index()
        } catch let error as HTTPError where error.status == .serviceUnavailable {
            throw error
        } catch {
            throw HTTPError(.serviceUnavailable, "the repository index is not available yet", headers: ["Retry-After": "30"])
        }
    }

    /// The `/`-separated parts of a decoded path with `.` parts dropped (apt sends `./` as it is,
    /// apt.md §0 rule 10); `..` is refused.
    static func clean(_ path: String) throws -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." || part.contains("\0") { throw HTTPError(.badRequest, "invalid path") }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// A file of `dists/`: whole every time (apt takes a 304 on InRelease as "nothing changed",
    /// and the Date alone cannot tell); by-hash files are immutable and answer ranges.
    static func respond(_ file: APTIndex.File, path: String, date: Int64?, request: Request) -> Response {
        let name = path[(path.lastIndex(of: "/").map(path.index(after:)) ?? path.startIndex)...]
        let type: String = if name.hasSuffix(".gz") { "application/gzip" } else if name.hasSuffix(".xz") { "application/x-xz" }
            else if name == "Release.gpg" { "application/pgp-signature" } else if file.immutable { "application/octet-stream" }
            else { "text/plain; charset=utf-8" }
        var headers: HTTPFields = ["Content-Type": type, "ETag": file.etag]
        if let date { headers["Last-Modified"] = HTTPDate.format(date) }
        guard file.immutable else {
            headers["Cache-Control"] = "no-cache"
            return Response(headers: headers, body: ResponseBody(bytes: file.bytes))
        }
        headers["Cache-Control"] = "max-age=31536000, immutable"
        headers["Accept-Ranges"] = "bytes"
        let bytes = file.bytes
        return RepresentationAnswer.decide(request, etag: file.etag, lastModified: nil, size: Int64(bytes.count))
            .response(headers: headers, size: Int64(bytes.count)) { range in
                guard let range else { return ResponseBody(bytes: bytes) }
                return ResponseBody(bytes: Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]))
            }
    }

    /// A package's bytes: a file with ranges and validators, or its upstream request sent down the chain.
    func serve(_ package: APTPackage, request: Request, context: Context, next: Next) async throws -> Response {
        let headers: HTTPFields = ["Content-Type": "application/vnd.debian.binary-package", "Cache-Control": "max-age=31536000, immutable"]
        switch try await state!.source.object(package) {
        case .file(let file):
            let etag = "\"" + package.sha256.prefix(32) + "\""
            var fields = headers
            fields["ETag"] = etag
            fields["Accept-Ranges"] = "bytes"
            return RepresentationAnswer.decide(request, etag: etag, lastModified: nil, size: file.size).response(headers: fields, size: file.size) { range in
                guard let range else { return ResponseBody(file: file.region()) }
                return ResponseBody(file: file.region(offset: range.lowerBound, length: range.upperBound - range.lowerBound))
            }
        case .upstream(let upstream):
            return try await forward(upstream, label: package.label, length: package.size, request: request, context: context, next: next)
        }
    }

    /// A package's upstream request sent down the chain (`cache`, `upstream`), with apt's Range.
    func forward(_ upstream: Request, label: String, length: Int64?, request: Request, context: Context, next: Next) async throws -> Response {
        var fields: HTTPFields = ["Content-Type": "application/vnd.debian.binary-package", "Cache-Control": "max-age=31536000, immutable"]
        if request.method == .head {
            // Answered from what the index knows: a HEAD must not fetch the asset.
            if let length { fields["Content-Length"] = String(length) }
            return Response(headers: fields, body: ResponseBody(content: .empty, length: nil))
        }
        var upstream = upstream
        if let range = request.headers["Range"] { upstream.headers["Range"] = range }
        var response = try await next(upstream, context)
        guard response.status == .ok || response.status == .partialContent else {
            guard response.status != .notFound else { throw HTTPError(.notFound, "not found") }
            Log.warning("apt: package not fetched", [("package", label), ("status", String(response.status.code))])
            throw HTTPError(.badGateway, "upstream unavailable")
        }
        for name in ["Content-Length", "Content-Range", "ETag", "Accept-Ranges"] {
            if let value = response.headers[name] { fields[name] = value }
        }
        response.headers = fields
        return response
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    static func isSafePath(_ path: String) -> Bool {
        !path.isEmpty && path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isSafeName(String($0)) }
    }
}

/// Stands in for a behaviour whose options had errors (already reported).
struct Unbuilt: Middleware {
    func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        throw HTTPError(.internalServerError, "not configured")
    }
}
