import Pipeline

/// `terraform.registry` reads an `oci` source as a provider registry (`providers.v1`, and its
/// mirror): a version is served when its index also holds the signed SHA256SUMS that `gateway oci
/// push` puts beside the packages (a manifest of `OCIProviderLayout.signedSumsArtifactType`), since
/// Terraform refuses registry providers without a signature. The repository is the source's
/// template with `${hostname}` = its `providersHostname`, `${namespace}` and `${type}` from the
/// request. Files are the layers' blobs, streamed down the registry's chain.
extension OCISource: ProviderRegistrySource {
    public func providerReleases(_ provider: ProviderAddress) async throws -> [ProviderRelease]? {
        guard let repository = providerRepository(provider), let tags = try await tags(repository: repository) else { return nil }
        var releases: [ProviderRelease] = []
        for (_, tag) in OCIProviderLayout.versions(tags) {
            if let signed = try await OCIProviderLayout.signedRelease(self, repository: repository, tag: tag, type: provider.type) {
                releases.append(signed.release)
            }
        }
        return releases
    }

    public func providerFile(_ provider: ProviderAddress, release: ProviderRelease, name: String) async throws -> RegistryObject {
        guard let repository = providerRepository(provider),
              let signed = try await OCIProviderLayout.signedRelease(self, repository: repository, tag: release.ref, type: provider.type),
              let file = signed.files[name] else {
            throw HTTPError(.notFound, "not found")
        }
        return .upstream(try blobRequest(repository: repository, digest: file.digest), length: file.size)
    }

    func providerRepository(_ provider: ProviderAddress) -> String? {
        var variables = ["namespace": provider.namespace, "type": provider.type]
        if let providersHostname { variables["hostname"] = providersHostname }
        return repository(variables)
    }
}

extension OCIProviderLayout {
    struct SignedRelease: Sendable {
        let release: ProviderRelease
        /// Every file of the release by name: its blob's digest and size.
        let files: [String: (digest: String, size: Int)]
    }

    /// The release the tag names, with its signed SHA256SUMS; nil when the tag has no signed sums
    /// or they do not describe the packages (a zip whose line differs from its layer's digest).
    static func signedRelease(_ store: any OCIStore, repository: String, tag: String, type: String) async throws -> SignedRelease? {
        guard let index = try await store.manifest(repository: repository, reference: tag), index.mediaType == OCIMediaType.index,
              let packages = try await packages(store, repository: repository, tag: tag),
              let entry = (index.json["manifests"]?.array ?? []).compactMap(OCIDescriptor.init).first(where: {
                  $0.artifactType == signedSumsArtifactType && $0.mediaType == OCIMediaType.manifest && $0.isSHA256
              }),
              let sumsManifest = try await store.manifest(repository: repository, reference: entry.digest) else { return nil }
        var files: [String: (digest: String, size: Int)] = [:]
        for layer in (sumsManifest.json["layers"]?.array ?? []).compactMap(OCIDescriptor.init) where layer.isSHA256 {
            guard let title = layer.annotations[titleAnnotation], !title.contains("/"), title.hasPrefix("terraform-provider-\(type)_") else { continue }
            files[title] = (layer.digest, layer.size)
        }
        guard let sumsName = files.keys.first(where: { $0.hasSuffix("_SHA256SUMS") }), let sumsFile = files[sumsName],
              let sums = try await store.blob(repository: repository, digest: sumsFile.digest, limit: 1 << 20) else { return nil }
        var manifestBytes: [UInt8]?
        if let name = files.keys.first(where: { $0.hasSuffix("_manifest.json") }), let file = files[name] {
            manifestBytes = try await store.blob(repository: repository, digest: file.digest, limit: 1 << 20)
        }
        let version = String(tag.map { $0 == "_" ? "+" : $0 })
        for package in packages {
            files["terraform-provider-\(type)_\(version)_\(package.os)_\(package.arch).zip"] = (package.digest, package.size)
        }
        guard let release = ProviderRelease.from(type: type, ref: tag, files: Array(files.keys), shasums: sums, manifest: manifestBytes),
              release.version.description == Semver(strict: version)?.description else { return nil }
        // Every zip served must be the bytes its SHA256SUMS line names.
        for package in release.packages {
            guard let file = files[package.filename], OCIDigest.hex(of: file.digest) == package.shasum else {
                Log.warning("oci provider package does not match its SHA256SUMS line", [("repository", repository), ("tag", tag),
                                                                                        ("file", package.filename)])
                return nil
            }
        }
        return SignedRelease(release: release, files: files)
    }
}
