import Pipeline

/// Publishes Terraform provider packages into an OCI repository (oci.md §4.2): each blob is
/// uploaded unless the registry has it already (a monolithic `POST` + `PUT ?digest=`), then the
/// manifests. In OpenTofu's layout (`.openTofu`): an image manifest per platform with its zip as
/// the one `archive/zip` layer, and the version's tag (`+` written `_`) on an index of them; in the
/// seed program's (`.seed`): one manifest with a layer per package. Pushing the same release again
/// uploads no blob.
public struct OCIPusher: Sendable {
    public enum Layout: Sendable { case openTofu, seed }

    public struct Package: Sendable {
        public let os: String
        public let arch: String
        public let filename: String
        public let zip: [UInt8]

        public init(os: String, arch: String, filename: String, zip: [UInt8]) {
            self.os = os
            self.arch = arch
            self.filename = filename
            self.zip = zip
        }
    }

    /// What a push did.
    public struct Report: Sendable {
        public var uploadedBlobs = 0
        public var existingBlobs = 0
        /// The digest of what the tag names.
        public var digest = ""
    }

    let registry: OCIRegistryClient

    /// A pusher to the registry at `url` (`http://127.0.0.1:5000`), with Basic credentials (used
    /// directly or at the registry's token service).
    public init(url: String, username: String? = nil, password: Secret? = nil, caFile: String? = nil) throws {
        guard var base = HTTPURL(url) else { throw HTTPError(.badRequest, HTTPURL.problem(with: url)) }
        if base.path.hasSuffix("/") { base.path.removeLast() }
        var configuration = HTTPClient.Configuration()
        configuration.caFile = caFile
        registry = OCIRegistryClient(base: base, client: try HTTPClient(configuration), username: username, password: password,
                                     sourceName: "push")
    }

    public static let emptyConfig: [UInt8] = Array("{}".utf8)

    /// Pushes `packages` as `version` of `repository`; in OpenTofu's layout, `files` (the signed
    /// SHA256SUMS, its signature, the manifest) go into one more manifest of the index, with
    /// `artifactType` `OCIProviderLayout.signedSumsArtifactType`, which OpenTofu skips.
    public func push(repository: String, version: String, packages: [Package], files: [ProviderReleaseFolder.File] = [],
                     layout: Layout = .openTofu) async throws -> Report {
        guard OCIName.isValidRepository(repository) else { throw PushError("\"\(repository)\" is not an OCI repository name") }
        let tag = String(version.map { $0 == "+" ? "_" : $0 })
        guard OCIName.isValidTag(tag) else { throw PushError("\"\(version)\" makes no OCI tag") }
        var report = Report()
        switch layout {
        case .openTofu:
            let config = try await upload(repository, Self.emptyConfig, &report)
            var entries: [String] = []
            for package in packages {
                let zip = try await upload(repository, package.zip, &report)
                let manifest = Self.json([
                    ("schemaVersion", 2), ("mediaType", .string(OCIMediaType.manifest)),
                    ("artifactType", .string(OCIProviderLayout.targetArtifactType)),
                    ("config", Self.descriptor("application/vnd.oci.empty.v1+json", config, Self.emptyConfig.count)),
                    ("layers", .array([Self.descriptor(OCIProviderLayout.zipMediaType, zip, package.zip.count,
                                                       extra: [("annotations", .object(JSONObject([("org.opencontainers.image.title", .string(package.filename))])))])])),
                ])
                let digest = try await putManifest(repository, reference: OCIDigest.of(manifest), mediaType: OCIMediaType.manifest, manifest)
                entries.append(Self.entry(digest, manifest.count, os: package.os, arch: package.arch))
            }
            if !files.isEmpty {
                var layers: [JSONValue] = []
                for file in files {
                    let digest = try await upload(repository, file.bytes, &report)
                    layers.append(Self.descriptor(OCIProviderLayout.mediaType(ofSignedFile: file.name), digest, file.bytes.count, extra: [
                        ("annotations", .object(JSONObject([("org.opencontainers.image.title", .string(file.name))]))),
                    ]))
                }
                let manifest = Self.json([
                    ("schemaVersion", 2), ("mediaType", .string(OCIMediaType.manifest)),
                    ("artifactType", .string(OCIProviderLayout.signedSumsArtifactType)),
                    ("config", Self.descriptor("application/vnd.oci.empty.v1+json", config, Self.emptyConfig.count)),
                    ("layers", .array(layers)),
                ])
                let digest = try await putManifest(repository, reference: OCIDigest.of(manifest), mediaType: OCIMediaType.manifest, manifest)
                entries.append("{\"mediaType\":\"\(OCIMediaType.manifest)\",\"artifactType\":\"\(OCIProviderLayout.signedSumsArtifactType)\","
                    + "\"digest\":\"\(digest)\",\"size\":\(manifest.count)}")
            }
            let index = Array(("{\"schemaVersion\":2,\"mediaType\":\"\(OCIMediaType.index)\",\"artifactType\":\"\(OCIProviderLayout.indexArtifactType)\","
                + "\"manifests\":[\(entries.joined(separator: ","))]}").utf8)
            report.digest = try await putManifest(repository, reference: tag, mediaType: OCIMediaType.index, index)
        case .seed:
            let config = try await upload(repository, Self.emptyConfig, &report)
            var layers: [JSONValue] = []
            for package in packages {
                let zip = try await upload(repository, package.zip, &report)
                layers.append(Self.descriptor(OCIProviderLayout.seedLayerType, zip, package.zip.count, extra: [
                    ("annotations", .object(JSONObject([(OCIProviderLayout.seedPlatforms, .string("\(package.os)_\(package.arch)"))]))),
                ]))
            }
            let manifest = Self.json([
                ("schemaVersion", 2), ("mediaType", .string(OCIMediaType.manifest)),
                ("config", Self.descriptor(OCIProviderLayout.seedConfigType, config, Self.emptyConfig.count)),
                ("layers", .array(layers)),
            ])
            report.digest = try await putManifest(repository, reference: tag, mediaType: OCIMediaType.manifest, manifest)
        }
        return report
    }

    static func json(_ pairs: [(String, JSONValue)]) -> [UInt8] { Array(JSONValue.object(JSONObject(pairs)).serialized().utf8) }

    static func descriptor(_ mediaType: String, _ digest: String, _ size: Int, extra: [(String, JSONValue)] = []) -> JSONValue {
        .object(JSONObject([("mediaType", .string(mediaType)), ("digest", .string(digest)), ("size", .number(Double(size)))] + extra))
    }

    /// An index entry: the descriptor of a platform's manifest. Written by hand so `platform`
    /// keeps OCI's key order.
    static func entry(_ digest: String, _ size: Int, os: String, arch: String) -> String {
        "{\"mediaType\":\"\(OCIMediaType.manifest)\",\"artifactType\":\"\(OCIProviderLayout.targetArtifactType)\",\"digest\":\"\(digest)\","
            + "\"size\":\(size),\"platform\":{\"architecture\":\"\(arch)\",\"os\":\"\(os)\"}}"
    }

    /// Uploads `bytes` unless the repository has them; returns their digest.
    func upload(_ repository: String, _ bytes: [UInt8], _ report: inout Report) async throws -> String {
        let digest = OCIDigest.of(bytes)
        guard let head = Request(url: registry.url("/v2/\(repository)/blobs/\(digest)"), method: .head) else { throw PushError("bad URL") }
        let exists = try await registry.send(head, repository: repository, actions: "pull,push")
        _ = try? await exists.body.collect(upTo: 64 * 1024)
        if exists.status == .ok {
            report.existingBlobs += 1
            return digest
        }
        guard let start = Request(url: registry.url("/v2/\(repository)/blobs/uploads/"), method: .post, headers: ["Content-Length": "0"]) else {
            throw PushError("bad URL")
        }
        let started = try await registry.send(start, repository: repository, actions: "pull,push")
        let startBody = (try? await started.body.collect(upTo: 64 * 1024)) ?? []
        guard started.status.code == 202, let location = started.headers["Location"], let target = started.url.resolving(location) else {
            throw PushError("starting an upload answered \(started.status.code): \(OCIRegistryClient.errorMessage(startBody))")
        }
        let query = (target.query.map { $0 + "&" } ?? "") + "digest=" + PercentEncoding.encodeComponent(digest)
        guard let put = Request(url: "\(target.origin)\(target.path)?\(query)", method: .put,
                                headers: ["Content-Type": "application/octet-stream", "Content-Length": String(bytes.count)],
                                body: IncomingBody(bytes: bytes)) else { throw PushError("bad upload URL") }
        let done = try await registry.send(put, repository: repository, actions: "pull,push")
        let doneBody = (try? await done.body.collect(upTo: 64 * 1024)) ?? []
        guard done.status.code == 201 else {
            throw PushError("uploading \(digest) answered \(done.status.code): \(OCIRegistryClient.errorMessage(doneBody))")
        }
        report.uploadedBlobs += 1
        return digest
    }

    /// PUTs a manifest under `reference` (a digest or a tag); returns its digest.
    func putManifest(_ repository: String, reference: String, mediaType: String, _ bytes: [UInt8]) async throws -> String {
        guard let put = Request(url: registry.url("/v2/\(repository)/manifests/\(reference)"), method: .put,
                                headers: ["Content-Type": mediaType, "Content-Length": String(bytes.count)],
                                body: IncomingBody(bytes: bytes)) else { throw PushError("bad URL") }
        let response = try await registry.send(put, repository: repository, actions: "pull,push")
        let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? []
        guard response.status.code == 201 else {
            throw PushError("putting the manifest \(reference) answered \(response.status.code): \(OCIRegistryClient.errorMessage(body))")
        }
        return OCIDigest.of(bytes)
    }
}

public struct PushError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
