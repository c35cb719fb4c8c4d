import Pipeline

/// One platform's package of a provider version in an OCI store: the zip blob.
struct OCIProviderPackage: Sendable {
    let os: String
    let arch: String
    /// `sha256:<hex>` of the zip (its hex is Terraform's `zh:` hash).
    let digest: String
    let size: Int
    var zh: String { "zh:" + (OCIDigest.hex(of: digest) ?? "") }
}

/// How Terraform providers sit in an OCI repository (oci.md §3.1, §1.3):
///
/// - **OpenTofu's layout**: a tag per version (`+` written `_`) naming an image index with
///   `artifactType` `application/vnd.opentofu.provider`, whose descriptors with `artifactType`
///   `…provider-target` and a `platform` (no `os.version`) name one image manifest per platform,
///   each with exactly one `archive/zip` layer: the provider's zip, byte for byte.
/// - **The seed program's layout** (compatibility): the tag names one image manifest whose config
///   is `application/vnd.hashicorp.terraform-provider.config.v1+json`, with a
///   `application/vnd.hashicorp.terraform.provider-package+zip` layer per package, annotated
///   `io.terraform.target-platforms: linux_amd64,darwin_arm64`.
enum OCIProviderLayout {
    static let indexArtifactType = "application/vnd.opentofu.provider"
    static let targetArtifactType = "application/vnd.opentofu.provider-target"
    static let zipMediaType = "archive/zip"
    static let seedConfigType = "application/vnd.hashicorp.terraform-provider.config.v1+json"
    static let seedLayerType = "application/vnd.hashicorp.terraform.provider-package+zip"
    static let seedPlatforms = "io.terraform.target-platforms"
    /// The gateway's own addition to OpenTofu's index (`gateway oci push`): a manifest whose layers
    /// are the release's SHA256SUMS, its detached signature and its manifest.json, each named by
    /// its `org.opencontainers.image.title`. OpenTofu skips descriptors of other artifact types.
    static let signedSumsArtifactType = "application/vnd.gateway.terraform-provider-shasums"
    static let titleAnnotation = "org.opencontainers.image.title"

    static func mediaType(ofSignedFile name: String) -> String {
        name.hasSuffix(".sig") ? "application/pgp-signature" : name.hasSuffix(".json") ? "application/json" : "text/plain"
    }

    /// The versions the tags name, newest first, each with its tag; other tags (`latest`,
    /// `sha256-…` referrer tags) are left out.
    static func versions(_ tags: [String]) -> [(version: Semver, tag: String)] {
        var seen = Set<Semver>()
        var versions: [(Semver, String)] = []
        for tag in tags {
            guard let version = Semver(strict: String(tag.map { $0 == "_" ? "+" : $0 })), seen.insert(version).inserted else { continue }
            versions.append((version, tag))
        }
        return versions.sorted { $0.0 > $1.0 }
    }

    /// The packages of the version `tag` names, by `os_arch` (first one wins); nil when the tag
    /// names nothing or something that is not a provider in either layout.
    static func packages(_ store: any OCIStore, repository: String, tag: String) async throws -> [OCIProviderPackage]? {
        guard let top = try await store.manifest(repository: repository, reference: tag) else { return nil }
        var packages: [OCIProviderPackage] = []
        var platforms = Set<String>()
        func add(_ os: String, _ arch: String, _ layer: OCIDescriptor) {
            guard isPlatformPart(os), isPlatformPart(arch), platforms.insert("\(os)_\(arch)").inserted else { return }
            packages.append(OCIProviderPackage(os: os, arch: arch, digest: layer.digest, size: layer.size))
        }
        switch top.mediaType {
        case OCIMediaType.index:
            if let type = top.json["artifactType"]?.string, type != indexArtifactType {
                Log.warning("oci tag is not a provider index", [("repository", repository), ("tag", tag), ("artifact_type", type)])
                return nil
            }
            for entry in top.json["manifests"]?.array ?? [] {
                guard let descriptor = OCIDescriptor(entry), descriptor.artifactType == targetArtifactType,
                      descriptor.mediaType == OCIMediaType.manifest, descriptor.isSHA256,
                      let os = descriptor.platform?["os"]?.string, let arch = descriptor.platform?["architecture"]?.string,
                      descriptor.platform?["os.version"] == nil else { continue }
                guard !platforms.contains("\(os)_\(arch)") else { continue }
                guard let manifest = try await store.manifest(repository: repository, reference: descriptor.digest) else {
                    Log.warning("oci provider manifest missing", [("repository", repository), ("digest", descriptor.digest)])
                    continue
                }
                guard manifest.json["artifactType"]?.string == targetArtifactType else { continue }
                let zips = (manifest.json["layers"]?.array ?? []).compactMap(OCIDescriptor.init).filter { $0.mediaType == zipMediaType }
                guard zips.count == 1, zips[0].isSHA256 else {
                    Log.warning("oci provider manifest without exactly one archive/zip layer",
                                [("repository", repository), ("digest", descriptor.digest)])
                    continue
                }
                add(os, arch, zips[0])
            }
        case OCIMediaType.manifest:
            guard top.json["config"]?["mediaType"]?.string == seedConfigType else {
                Log.warning("oci tag is not a provider", [("repository", repository), ("tag", tag),
                                                          ("artifact_type", top.artifactType ?? "none")])
                return nil
            }
            for entry in top.json["layers"]?.array ?? [] {
                guard let layer = OCIDescriptor(entry), layer.mediaType == seedLayerType, layer.isSHA256,
                      let list = layer.annotations[seedPlatforms] else { continue }
                for platform in list.split(separator: ",") {
                    let parts = platform.trimmingASCIIWhitespace().split(separator: "_")
                    guard parts.count == 2 else { continue }
                    add(String(parts[0]), String(parts[1]), layer)
                }
            }
        default:
            return nil
        }
        return packages.sorted { ($0.os, $0.arch) < ($1.os, $1.arch) }
    }

    /// GOOS and GOARCH values: lower-case letters and digits.
    static func isPlatformPart(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 32 && text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }
    }
}
