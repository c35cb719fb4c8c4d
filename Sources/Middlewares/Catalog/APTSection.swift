import Pipeline

/// APT packages: what the index of an `apt.repository` holds (name, versions, architectures,
/// the description's first line, sizes), and per package the lines that install it: the signing
/// key, the deb822 `.sources` stanza with `Signed-By`, the auth.conf entry when the repository is
/// behind auth, and `apt-get install`. The packages come from the repository's own index state
/// (`APTPublished`): the index its requests serve, refreshed by the same rules, never a second
/// build and no extra reads of the source.
struct APTSection: CatalogSection {
    let state: APTIndexState
    let shape: APTRepositoryShape
    /// The repository root beneath the gateway (`/apt/`).
    let root: String
    let behindAuth: Bool
    var slug: String { "packages" }
    var noun: (one: String, many: String) { ("package", "packages") }
    var title: String { "APT packages" }

    /// The packages of the current index by name, each name's versions newest first.
    func packages() async throws -> [(name: String, versions: [APTPackage])] {
        let index = try await APTRepository.index(of: state)
        let byName = Dictionary(grouping: index.pool.values, by: \.name)
        return byName.keys.sorted().map { name in
            (name, byName[name]!.sorted { a, b in
                let order = DebianVersion.compare(a.version, b.version)
                return order != 0 ? order > 0 : (a.architecture, a.component) < (b.architecture, b.component)
            })
        }
    }

    func items(_ request: CatalogRequest) async throws -> [CatalogItem] {
        try await packages().map { name, versions in
            let newest = versions[0]
            let architectures = Self.unique(versions.map(\.architecture))
            return CatalogItem(name: name, description: Self.summary(newest),
                               keywords: ["apt", "deb", "package", newest.sourceName] + architectures + Self.unique(versions.map(\.version)),
                               path: [name], detail: newest.version + " · " + architectures.joined(separator: ", "))
        }
    }

    func page(_ path: [String], _ request: CatalogRequest) async throws -> CatalogAnswer? {
        guard path.count == 1 || path.count == 2, let (name, versions) = try await packages().first(where: { $0.name == path[0] }) else { return nil }
        var selected = versions[0]
        let newest = selected.version
        if path.count == 2 {
            // The version's first architecture; every one of them is in the table.
            guard let version = versions.first(where: { $0.version == path[1] }) else { return nil }
            selected = version
        }
        let base = "\(request.scheme)://\(request.authority)\(root)"
        let file = Self.fileName(shape.origin)
        var body: HTML = "<h1>" + name.html + "</h1>"
        body += "<p class=\"muted\">Debian package · " + selected.version.html + (selected.version != newest ? " (not the newest)" : "") + " · "
            + Self.summary(selected).html + "</p>"
        let long = Self.longDescription(selected)
        if !long.isEmpty { body += HTML.join(long.map { "<p>" + $0.html + "</p>" }) }
        body += "<div class=\"layout\"><div>"
        body += CatalogLayout.snippet(id: "key", label: "Trust the repository's signing key", text: """
        sudo install -d -m 755 /etc/apt/keyrings
        curl -fsSL \(base)key.gpg | sudo tee /etc/apt/keyrings/\(file).gpg >/dev/null
        """)
        body += CatalogLayout.snippet(id: "sources", label: "Add the repository (/etc/apt/sources.list.d/\(file).sources)", text: """
        Types: deb
        URIs: \(base)
        Suites: \(shape.suite)
        Components: \(shape.components.joined(separator: " "))
        Signed-By: /etc/apt/keyrings/\(file).gpg
        """)
        if behindAuth {
            body += CatalogLayout.snippet(id: "auth", label: "Your credentials (/etc/apt/auth.conf.d/\(file).conf, mode 0600)",
                                          text: "machine \(request.authority)\(root) login YOUR-LOGIN password YOUR-PASSWORD")
        }
        body += CatalogLayout.snippet(id: "install", label: "Install it", text: "sudo apt-get update\nsudo apt-get install \(name)")
        body += CatalogLayout.snippet(id: "install-version", label: "Or exactly this version",
                                      text: "sudo apt-get install \(name)=\(selected.version)")
        body += "<h2>Version " + selected.version.html + "</h2><dl>"
        for field in ["Section", "Maintainer", "Depends", "Recommends", "Homepage"] {
            guard let value = selected.control[field], !value.isEmpty else { continue }
            body += "<dt>" + field.html + "</dt><dd>" + value.html + "</dd>"
        }
        body += "<dt>Source package</dt><dd>" + selected.sourceName.html + "</dd>"
        body += "<dt>Component</dt><dd>" + selected.component.html + "</dd>"
        if let installed = selected.control["Installed-Size"].flatMap({ Int64($0) }) {
            body += "<dt>Installed size</dt><dd>" + Self.size(installed * 1024).html + "</dd>"
        }
        body += "</dl></div><aside aria-label=\"Versions\">"
        let rows: [[HTML]] = versions.map { package in
            let href = request.link(slug, [name, package.version]).html
            let link: HTML = package.version == selected.version
                ? "<a aria-current=\"page\" href=\"" + href + "\"><strong>" + package.version.html + "</strong></a>"
                : "<a href=\"" + href + "\">" + package.version.html + "</a>"
            return [link, package.architecture.html, Self.size(package.size).html]
        }
        body += CatalogLayout.table(caption: "Versions, newest first", headers: ["Version", "Architecture", "Size"], rows: rows)
        body += "</aside></div>"
        return .page(title: name, body: body)
    }

    /// The Description's first line (the synopsis).
    static func summary(_ package: APTPackage) -> String {
        let description = package.control["Description"] ?? ""
        return String(description.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingASCIIWhitespace()
    }

    /// The Description's extended text as paragraphs (a line of ` .` separates them, Debian policy §5.6.13).
    static func longDescription(_ package: APTPackage) -> [String] {
        let lines = (package.control["Description"] ?? "").split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        var paragraphs: [String] = [], current: [String] = []
        for line in lines {
            let text = String(line).trimmingASCIIWhitespace()
            if text == "." {
                if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
                current = []
            } else if !text.isEmpty {
                current.append(text)
            }
        }
        if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
        return paragraphs
    }

    /// `812 B`, `3.4 KiB`, `12.0 MiB` (a no-break space before the unit).
    static func size(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes)\u{00A0}B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes) / 1024, unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)\u{00A0}\(units[unit])"
    }

    /// The keyring and list file's name on the client: the Release's Origin as a file name.
    static func fileName(_ origin: String) -> String {
        var name = ""
        for character in origin.lowercased() {
            if character.isASCII && (character.isLetter || character.isNumber || character == "." || character == "_") {
                name.append(character)
            } else if !name.isEmpty && name.last != "-" {
                name.append("-")
            }
        }
        while name.hasSuffix("-") || name.hasSuffix(".") { name.removeLast() }
        while name.hasPrefix("-") || name.hasPrefix(".") { name.removeFirst() }
        return name.isEmpty ? "gateway" : name
    }

    static func unique(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        return values.filter { seen.insert($0).inserted }
    }
}

extension APTSection {
    /// The section the catalog's `apt` option names (the stack whose `apt.repository` it shows),
    /// or nil when it is not given. The stack must be declared before the catalog's: its
    /// repository is found among those already built.
    static func build(options: Options, context: BuildContext) -> APTSection? {
        guard let stack = options.string("apt") else { return nil }
        let table = APTPublished.Table.of(context)
        guard let found = table.byStack[stack] else {
            options.error("apt", "no apt.repository in a stack \"\(stack)\" declared before this one"
                + DidYouMean.hint(for: stack, among: table.stacks))
            return nil
        }
        guard found.count == 1, let repository = found.first else {
            options.error("apt", "stack \"\(stack)\" holds \(found.count) apt.repository behaviours; the catalog shows one")
            return nil
        }
        guard let state = repository.state else {
            options.error("apt", "the apt.repository of stack \"\(stack)\" serves dists/ from a branch (metadata); the catalog lists only an index the gateway builds")
            return nil
        }
        if repository.behindAuth && !context.isBehindAuth {
            options.warning("apt", "the apt.repository of stack \"\(stack)\" is behind auth but this catalog is not: anyone can read its package names")
        }
        var root = repository.pathPrefixes.first ?? "/"
        if !root.hasSuffix("/") { root += "/" }
        return APTSection(state: state, shape: repository.shape, root: root, behindAuth: repository.behindAuth)
    }
}
