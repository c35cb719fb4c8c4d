import Pipeline

/// Builds the Terraform sections from the catalog's `modules` and `providers` options, reading
/// the sources through `terraform.registry`'s own views (RegistryViews, shared per load).
enum TerraformSections {
    static func build(options: Options, context: BuildContext) -> [any CatalogSection] {
        let views = RegistryViews(options: options, downstream: context.downstream(), context: context)
        var sections: [any CatalogSection] = []
        if let name = options.string("modules"),
           let modules = context.source(name, at: options.pointer.appending("modules"), for: "Terraform modules", views: views.modules) {
            if let listing = modules as? any TerraformCatalogListing {
                sections.append(ModulesSection(modules: modules, listing: listing))
            } else {
                options.error("modules", "source \"\(name)\" serves Terraform modules but cannot list them for the catalog")
            }
        }
        var keyIDs: [String] = []
        for path in options.strings("signingKeys") {
            do {
                let armor = String(decoding: try options.environment.readFile(path, limit: 1 << 20), as: UTF8.self)
                guard let id = OpenPGPArmor.keyID(ofArmoredPublicKey: armor) else {
                    options.error("signingKeys", "\(path) is not an ASCII-armored OpenPGP v4 public key")
                    continue
                }
                keyIDs.append(id)
            } catch {
                options.error("signingKeys", "\(error)")
            }
        }
        let mirror = options.bool("mirror", default: true)
        var registryPrefix = options.string("registryPrefix") ?? "/v1/"
        if !registryPrefix.hasPrefix("/") { options.error("registryPrefix", "must start with /") }
        if !registryPrefix.hasSuffix("/") { registryPrefix += "/" }
        if let name = options.string("providers"),
           let providers = context.source(name, at: options.pointer.appending("providers"), for: "Terraform providers", views: views.providers) {
            if let listing = providers as? any TerraformCatalogListing {
                sections.append(ProvidersSection(providers: providers, listing: listing, keyIDs: keyIDs,
                                                 mirrorURLPath: mirror ? registryPrefix + "mirror/" : nil))
            } else {
                options.error("providers", "source \"\(name)\" serves Terraform providers but cannot list them for the catalog")
            }
        }
        // A release feed's view made here (the registry's stack comes later) is stopped with the load.
        for view in views.owned { context.retain(view) }
        return sections
    }

    /// Runs `work` for every element at once, keeping the order; nil results are left out.
    static func concurrently<T: Sendable, U: Sendable>(_ values: [T], _ work: @escaping @Sendable (T) async throws -> U?) async throws -> [U] {
        try await withThrowingTaskGroup(of: (Int, U?).self) { group in
            for (index, value) in values.enumerated() { group.addTask { (index, try await work(value)) } }
            var results = [U?](repeating: nil, count: values.count)
            for try await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }
}

/// Terraform modules: every module with its newest version; a module's page with its versions,
/// the README at the selected version and the `module` block to copy.
struct ModulesSection: CatalogSection {
    let modules: any ModuleRegistrySource
    let listing: any TerraformCatalogListing
    var slug: String { "modules" }
    var noun: (one: String, many: String) { ("module", "modules") }
    var title: String { "Terraform modules" }

    func items(_ request: CatalogRequest) async throws -> [CatalogItem] {
        let modules = self.modules
        let found = try await TerraformSections.concurrently(try await listing.catalogModules()) { entry -> CatalogItem? in
            // Only modules with a version: the registry would answer 404 for the others.
            guard let newest = try await modules.moduleVersions(entry.module)?.entries.first else { return nil }
            let module = entry.module
            return CatalogItem(name: module.description, description: entry.description ?? "",
                               keywords: [module.namespace, module.name, module.system, "module"],
                               path: [module.namespace, module.name, module.system], detail: newest.version.description)
        }
        return found.sorted { $0.name < $1.name }
    }

    func page(_ path: [String], _ request: CatalogRequest) async throws -> CatalogAnswer? {
        guard path.count >= 3 else { return nil }
        let module = ModuleAddress(namespace: path[0], name: path[1], system: path[2])
        guard let index = try await modules.moduleVersions(module), let newest = index.entries.first else { return nil }
        let selected: VersionIndex.Entry
        if path.count >= 4 {
            guard let entry = index.entries.first(where: { $0.version.description == path[3] }) else { return nil }
            selected = entry
        } else {
            selected = newest
        }
        if path.count > 5, path[4] == "files" {
            return try await file(module, selected, path.dropFirst(5).joined(separator: "/"))
        }
        guard path.count <= 4 else { return nil }
        return .page(title: module.description, body: try await modulePage(module, index, selected, request))
    }

    func file(_ module: ModuleAddress, _ selected: VersionIndex.Entry, _ path: String) async throws -> CatalogAnswer? {
        guard let bytes = try await listing.catalogModuleFile(module, ref: selected.ref, path: path) else { return nil }
        // Only images and text: a README's HTML file must not run in the catalog's origin.
        let type = MediaTypes.forFile(path)
        let shown = type.hasPrefix("image/") && type != "image/svg+xml" ? type : "text/plain; charset=utf-8"
        return .response(Response(headers: ["Content-Type": shown, "X-Content-Type-Options": "nosniff",
                                            "Content-Security-Policy": "sandbox; default-src 'none'", "Cache-Control": "private, max-age=300"],
                                  body: ResponseBody(bytes: bytes)))
    }

    func modulePage(_ module: ModuleAddress, _ index: VersionIndex, _ selected: VersionIndex.Entry, _ request: CatalogRequest) async throws -> HTML {
        async let datesTask = listing.catalogModuleDates(module)
        async let readmeTask = readme(module, selected, request)
        let dates = (try? await datesTask) ?? [:]
        let readme = try await readmeTask
        let version = selected.version.description
        var body: HTML = "<h1>" + module.description.html + "</h1>"
        body += "<p class=\"muted\">Terraform module · version " + version.html
        if selected.version != index.entries.first?.version { body += " (not the newest)" }
        if let source = modules.moduleSourceURL(module) { body += " · <a href=\"" + source.html + "\">source</a>" }
        body += "</p><div class=\"layout\"><div>"
        let block = """
        module "\(module.name)" {
          source  = "\(request.authority)/\(module.namespace)/\(module.name)/\(module.system)"
          version = "\(version)"
        }
        """
        body += CatalogLayout.snippet(id: "usage", label: "Use this module (main.tf)", text: block)
        let host = request.authority.split(separator: ":").first ?? ""
        if !host.contains("."), !request.authority.hasPrefix("[") {
            // Terraform reads a module source's first part as a hostname only when it has a dot.
            body += "<p class=\"muted\">Terraform takes <code>" + String(host).html + "</code> for a namespace, not a host: "
                + "open this page at a dotted name of this gateway (such as 127.0.0.1) to get a source address it accepts.</p>"
        }
        body += "<section class=\"readme\" aria-labelledby=\"readme-h\"><h2 id=\"readme-h\">README</h2>"
        body += readme ?? "<p class=\"muted\">This version has no README.md.</p>"
        body += "</section></div><aside aria-label=\"Versions\">"
        let rows: [[HTML]] = index.entries.map { entry in
            let label = entry.version.description
            let link: HTML = entry.ref == selected.ref
                ? "<a aria-current=\"page\" href=\"" + request.link("modules", [module.namespace, module.name, module.system, label]).html + "\"><strong>" + label.html + "</strong></a>"
                : "<a href=\"" + request.link("modules", [module.namespace, module.name, module.system, label]).html + "\">" + label.html + "</a>"
            return [link, (dates[entry.ref] ?? "—").html]
        }
        body += CatalogLayout.table(caption: "Versions, newest first", headers: ["Version", "Published"], rows: rows)
        return body + "</aside></div>"
    }

    /// The README at the version, rendered; relative links and images point at the catalog's copy of
    /// the module's files at that version.
    func readme(_ module: ModuleAddress, _ selected: VersionIndex.Entry, _ request: CatalogRequest) async throws -> HTML? {
        var bytes: [UInt8]?
        for name in ["README.md", "readme.md", "Readme.md"] {
            bytes = try await listing.catalogModuleFile(module, ref: selected.ref, path: name)
            if bytes != nil { break }
        }
        guard let bytes else { return nil }
        let base = [module.namespace, module.name, module.system, selected.version.description, "files"]
        let render: @Sendable () -> String = {
            Markdown.html(String(decoding: bytes, as: UTF8.self), headingOffset: 2) { url, _ in
                let fragmentStart = url.firstIndex { $0 == "#" || $0 == "?" }
                let pathPart = fragmentStart.map { String(url[..<$0]) } ?? url
                let fragment = fragmentStart.flatMap { url[$0] == "#" ? String(url[$0...]) : nil } ?? ""
                guard let decoded = PercentEncoding.decode(pathPart), let path = normalizedModulePath(decoded) else { return nil }
                return request.link("modules", base + path.split(separator: "/").map(String.init)) + fragment
            }
        }
        // A long README is rendered off the event loop, like other work that takes a while.
        return HTML(trusted: bytes.count > 64 * 1024 ? try await BlockingPool.shared.run(render) : render())
    }
}

/// Terraform providers: versions, platforms, protocols, the signing key, `required_providers`
/// and the network mirror's `.terraformrc` to copy.
struct ProvidersSection: CatalogSection {
    let providers: any ProviderRegistrySource
    let listing: any TerraformCatalogListing
    let keyIDs: [String]
    /// The mirror's path on the gateway when the registry serves it.
    let mirrorURLPath: String?
    var slug: String { "providers" }
    var noun: (one: String, many: String) { ("provider", "providers") }
    var title: String { "Terraform providers" }

    func items(_ request: CatalogRequest) async throws -> [CatalogItem] {
        let providers = self.providers
        let found = try await TerraformSections.concurrently(try await listing.catalogProviders()) { entry -> CatalogItem? in
            guard let newest = try await providers.providerReleases(entry.provider)?.first else { return nil }
            let provider = entry.provider
            return CatalogItem(name: provider.description, description: entry.description ?? "",
                               keywords: [provider.namespace, provider.type, "provider"],
                               path: [provider.namespace, provider.type], detail: newest.version.description)
        }
        return found.sorted { $0.name < $1.name }
    }

    func page(_ path: [String], _ request: CatalogRequest) async throws -> CatalogAnswer? {
        guard path.count == 2 || path.count == 3 else { return nil }
        let provider = ProviderAddress(namespace: path[0], type: path[1])
        guard let releases = try await providers.providerReleases(provider), let newest = releases.first else { return nil }
        var selected = newest
        if path.count == 3 {
            guard let release = releases.first(where: { $0.version.description == path[2] }) else { return nil }
            selected = release
        }
        let dates = (try? await listing.catalogProviderDates(provider)) ?? [:]
        let version = selected.version.description
        let address = "\(request.authority)/\(provider.namespace)/\(provider.type)"
        var body: HTML = "<h1>" + provider.description.html + "</h1>"
        body += "<p class=\"muted\">Terraform provider · version " + version.html + (selected.version != newest.version ? " (not the newest)" : "") + "</p>"
        body += "<div class=\"layout\"><div>"
        body += CatalogLayout.snippet(id: "usage", label: "Use this provider (versions.tf)", text: """
        terraform {
          required_providers {
            \(provider.type) = {
              source  = "\(address)"
              version = "\(version)"
            }
          }
        }
        """)
        if let mirrorURLPath {
            body += CatalogLayout.snippet(id: "mirror", label: "Install it through the network mirror (~/.terraformrc)", text: """
            provider_installation {
              network_mirror {
                url     = "\(request.scheme)://\(request.authority)\(mirrorURLPath)"
                include = ["\(address)"]
              }
              direct {
                exclude = ["\(address)"]
              }
            }
            """)
        }
        body += "<h2>Version " + version.html + "</h2><dl>"
        body += "<dt>Protocols</dt><dd>" + selected.protocols.joined(separator: ", ").html + "</dd>"
        body += "<dt>Signing key ID</dt><dd>" + (keyIDs.isEmpty ? "—" : keyIDs.joined(separator: ", ")).html + "</dd></dl>"
        let platformRows: [[HTML]] = selected.packages.map { package in
            ["\(package.os)_\(package.arch)".html, "<code>" + package.filename.html + "</code>",
             "<code>" + String(package.shasum.prefix(16)).html + "…</code>"]
        }
        body += CatalogLayout.table(caption: "Platforms", headers: ["Platform", "Package", "SHA-256"], rows: platformRows)
        body += "</div><aside aria-label=\"Versions\">"
        let rows: [[HTML]] = releases.map { release in
            let label = release.version.description
            let href = request.link("providers", [provider.namespace, provider.type, label]).html
            let link: HTML = release.version == selected.version
                ? "<a aria-current=\"page\" href=\"" + href + "\"><strong>" + label.html + "</strong></a>"
                : "<a href=\"" + href + "\">" + label.html + "</a>"
            return [link, (dates[release.ref] ?? "—").html, release.packages.count.description.html]
        }
        body += CatalogLayout.table(caption: "Versions, newest first", headers: ["Version", "Published", "Platforms"], rows: rows)
        body += "</aside></div>"
        return .page(title: provider.description, body: body)
    }
}
