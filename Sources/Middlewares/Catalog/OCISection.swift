import Pipeline

/// The OCI mirror: which providers the OCI store holds, their versions, and the `.terraformrc`
/// that installs them through `oci.mirror`. An OCI registry cannot be asked what it holds, so the
/// providers to show are named in the catalog's `ociMirror.providers`.
struct OCISection: CatalogSection {
    struct Provider: Sendable {
        let hostname: String
        let namespace: String
        let type: String
        var address: String { "\(hostname)/\(namespace)/\(type)" }
    }

    let store: any OCIStore
    let providers: [Provider]
    /// Where `oci.mirror` serves (its `prefix`).
    let mirrorPrefix: String
    var slug: String { "oci" }
    var noun: (one: String, many: String) { ("mirrored provider", "mirrored providers") }
    var title: String { "OCI provider mirror" }

    func versions(_ provider: Provider) async throws -> [(version: Semver, tag: String)]? {
        guard let repository = store.repository(["hostname": provider.hostname, "namespace": provider.namespace, "type": provider.type]),
              let tags = try await store.tags(repository: repository) else { return nil }
        let versions = OCIProviderLayout.versions(tags).sorted { $1.version < $0.version }
        return versions.isEmpty ? nil : versions
    }

    func items(_ request: CatalogRequest) async throws -> [CatalogItem] {
        try await TerraformSections.concurrently(providers) { provider -> CatalogItem? in
            guard let newest = try await versions(provider)?.first else { return nil }
            return CatalogItem(name: provider.address, description: "Terraform provider in the OCI store",
                               keywords: [provider.hostname, provider.namespace, provider.type, "oci", "mirror", "provider"],
                               path: [provider.hostname, provider.namespace, provider.type], detail: newest.version.description)
        }
    }

    func page(_ path: [String], _ request: CatalogRequest) async throws -> CatalogAnswer? {
        guard path.count == 3, let provider = providers.first(where: { [$0.hostname, $0.namespace, $0.type] == path }),
              let versions = try await versions(provider) else { return nil }
        var body: HTML = "<h1>" + provider.address.html + "</h1>"
        body += "<p class=\"muted\">Terraform provider kept in an OCI registry, served by the network mirror</p>"
        body += CatalogLayout.snippet(id: "mirror", label: "Install it through the mirror (~/.terraformrc)", text: """
        provider_installation {
          network_mirror {
            url     = "\(request.scheme)://\(request.authority)\(mirrorPrefix)"
            include = ["\(provider.address)"]
          }
          direct {
            exclude = ["\(provider.address)"]
          }
        }
        """)
        body += CatalogLayout.snippet(id: "usage", label: "Use it (versions.tf)", text: """
        terraform {
          required_providers {
            \(provider.type) = {
              source  = "\(provider.address)"
              version = "\(versions[0].version)"
            }
          }
        }
        """)
        let rows: [[HTML]] = versions.map { [$0.version.description.html, "<code>" + $0.tag.html + "</code>"] }
        body += CatalogLayout.table(caption: "Versions in the store, newest first", headers: ["Version", "Tag"], rows: rows)
        return .page(title: provider.address, body: body)
    }
}

extension OCISection {
    /// The section the catalog's `ociMirror` option describes, or nil when it is not given.
    static func build(options: Options, context: BuildContext) -> OCISection? {
        guard let mirror = options.object("ociMirror", allowed: ["source", "prefix", "providers"]) else { return nil }
        var store: (any OCIStore)?
        if let name = mirror.string("source", required: true) {
            store = context.source(name, at: mirror.pointer.appending("source"), for: "an OCI store", views: [
                SourceView("an OCI store", as: (any OCIStore).self) { $0 },
            ])
        }
        var prefix = mirror.string("prefix") ?? "/mirror/"
        if !prefix.hasPrefix("/") { mirror.error("prefix", "must start with /") }
        if !prefix.hasSuffix("/") { prefix += "/" }
        var providers: [Provider] = []
        for address in mirror.strings("providers", required: true) {
            let parts = address.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, parts.allSatisfy(FileTreeRegistry.isSafeName) else {
                mirror.error("providers", "\"\(address)\" is not a provider address hostname/namespace/type")
                continue
            }
            providers.append(Provider(hostname: parts[0].lowercased(), namespace: parts[1], type: parts[2]))
        }
        guard let store else { return nil }
        return OCISection(store: store, providers: providers, mirrorPrefix: prefix)
    }
}
