import Pipeline

/// `catalog`: a web catalog of what the pipeline serves, for people: a home page with counts and
/// a search (answered here, no JavaScript needed), and a section per kind of thing (Terraform
/// modules and providers, APT packages, an OCI mirror; see `CatalogSection`). Pages are HTML made on
/// the server with one stylesheet; READMEs are rendered with GitHub's Markdown renderer.
///
/// The catalog reads the sources through the same views as the protocol behaviours (for a
/// release feed, the very view `terraform.registry` uses, so SHA256SUMS and the source's cached
/// answers are shared): opening it spends no GitHub calls the registry would not. It shows what
/// the caller may read: put it behind the same auth as the protocol stacks. Requests outside its
/// paths go to `next`.
public struct Catalog: Middleware {
    let prefix: String
    let sections: [any CatalogSection]
    let layout: CatalogLayout

    public static let type = MiddlewareType(
        name: "catalog",
        summary: "A web catalog for people: modules, providers (and other sections), search, READMEs, usage to copy.",
        phase: .behaviour,
        options: [
            OptionSpec("prefix", "string", "path under which the catalog lives", default: "/"),
            OptionSpec("title", "string", "the site's name in headings", default: "Registry catalog"),
            OptionSpec("modules", "string", "source of Terraform modules (a name in \"sources\")"),
            OptionSpec("providers", "string", "source of Terraform providers (a name in \"sources\")"),
            OptionSpec("namespace", "string", "module/provider namespace for a github source (as terraform.registry)", default: "the owner"),
            OptionSpec("monorepos", "[object]", "github modules kept together (as terraform.registry)"),
            OptionSpec("registryPrefix", "string", "where terraform.registry serves its services (for the mirror snippet)", default: "/v1/"),
            OptionSpec("mirror", "bool", "show the network-mirror .terraformrc snippet (the registry serves the mirror)", default: "true"),
            OptionSpec("signingKeys", "[path]", "the registry's provider signing keys, to show their key IDs"),
            OptionSpec("apt", "string", "the stack whose apt.repository the APT packages section shows (declared before this one)"),
            OptionSpec("ociMirror", "object", "{\"source\": an oci source, \"prefix\": oci.mirror's prefix (/mirror/), \"providers\": [\"host/namespace/type\"]}"),
        ],
        build: { options, context in
            var prefix = options.string("prefix") ?? "/"
            if !prefix.hasPrefix("/") { options.error("prefix", "must start with /") }
            if !prefix.hasSuffix("/") { prefix += "/" }
            var sections = TerraformSections.build(options: options, context: context)
            if let apt = APTSection.build(options: options, context: context) { sections.append(apt) }
            if let oci = OCISection.build(options: options, context: context) { sections.append(oci) }
            if !options.has("modules") && !options.has("providers") && !options.has("apt") && !options.has("ociMirror") {
                options.error(nil, "give at least one section's source: \"modules\", \"providers\", \"apt\" or \"ociMirror\"")
            }
            var slugs: Set<String> = []
            for section in sections where !slugs.insert(section.slug).inserted {
                options.error(nil, "two sections share the path \"\(section.slug)\"")
            }
            let title = options.string("title") ?? "Registry catalog"
            let layout = CatalogLayout(siteTitle: title, prefix: prefix, sections: sections.map { ($0.slug, $0.title) })
            return Catalog(prefix: prefix, sections: sections, layout: layout)
        })

    public func handle(_ request: Request, context: Context, next: Next) async throws -> Response {
        guard request.path.hasPrefix(prefix) || request.path + "/" == prefix else { return try await next(request, context) }
        let rest = request.path.hasPrefix(prefix) ? String(request.path.dropFirst(prefix.count)) : ""
        let first = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let section = sections.first { $0.slug == first }
        guard rest.isEmpty || rest == "catalog.css" || rest == "catalog.js" || section != nil else {
            return try await next(request, context)
        }
        guard request.method == .get || request.method == .head else {
            return Self.plain(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"])
        }
        if request.path + "/" == prefix { return Response(status: .movedPermanently, headers: ["Location": prefix], body: .empty) }
        let catalogRequest = CatalogRequest(request: request, context: context, prefix: prefix, scheme: context.scheme(of: request),
                                            authority: request.authority)
        do {
            switch rest {
            case "": return try await home(catalogRequest)
            case "catalog.css": return Self.asset(CatalogAssets.stylesheet, type: "text/css; charset=utf-8")
            case "catalog.js": return Self.asset(CatalogAssets.script, type: "text/javascript; charset=utf-8")
            default: break
            }
            guard let section else { return notFound(catalogRequest) }
            var segments: [String] = []
            for part in rest.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
                guard let decoded = PercentEncoding.decode(part) else { return notFound(catalogRequest) }
                segments.append(decoded)
            }
            if segments.last == "" { segments.removeLast() }
            if segments.isEmpty, !rest.hasSuffix("/") {
                return Response(status: .movedPermanently, headers: ["Location": prefix + section.slug + "/"], body: .empty)
            }
            if segments.contains("") { return notFound(catalogRequest) }
            if let answer = try await section.page(segments, catalogRequest) {
                switch answer {
                case .page(let title, let body): return html(layout.page(title: title, body: body))
                case .response(let response): return response
                }
            }
            if segments.isEmpty { return try await sectionIndex(section, catalogRequest) }
            return notFound(catalogRequest)
        } catch let error as HTTPError where error.status.code >= 500 || error.status == .tooManyRequests {
            return unavailable(error.status, headers: error.headers)
        } catch let error as HTTPError {
            throw error
        } catch {
            Log.warning("catalog page not made", [("path", request.path), ("reason", "\(error)")])
            return unavailable(.badGateway)
        }
    }

    // MARK: Pages

    func home(_ request: CatalogRequest) async throws -> Response {
        let query = (request.request.query("q") ?? "").trimmingASCIIWhitespace()
        let lists = try await withThrowingTaskGroup(of: (Int, [CatalogItem]?).self) { group in
            for (index, section) in sections.enumerated() {
                group.addTask {
                    do {
                        return (index, try await section.items(request))
                    } catch {
                        // One section that cannot be read now does not take the others with it.
                        Log.warning("catalog section not read", [("section", section.slug), ("reason", "\(error)")])
                        return (index, nil)
                    }
                }
            }
            var lists = [[CatalogItem]?](repeating: nil, count: sections.count)
            for try await (index, items) in group { lists[index] = items }
            return lists
        }
        var body: HTML = "<h1>" + layout.siteTitle.html + "</h1>"
        body += "<ul class=\"counts\" aria-label=\"What this registry holds\">"
        for (section, items) in zip(sections, lists) {
            let count = items.map { String($0.count) } ?? "?"
            body += "<li><a href=\"" + request.link(section.slug, folder: true).html + "\"><strong>" + count.html + "</strong> "
                + (items?.count == 1 ? section.noun.one : section.noun.many).html + "</a></li>"
        }
        body += "</ul>"
        var found = 0
        var results: HTML = ""
        for (section, items) in zip(sections, lists) {
            guard let items else {
                results += "<section aria-labelledby=\"h-" + section.slug.html + "\"><h2 id=\"h-" + section.slug.html + "\">" + section.title.html
                    + "</h2><p class=\"muted\">Could not be read just now; try again shortly.</p></section>"
                continue
            }
            let shown = query.isEmpty ? items : items.filter { $0.matches(query) }
            found += shown.count
            guard !shown.isEmpty || query.isEmpty else { continue }
            results += "<section aria-labelledby=\"h-" + section.slug.html + "\"><h2 id=\"h-" + section.slug.html + "\">" + section.title.html + "</h2>"
            results += itemList(section, shown, request)
            results += "</section>"
        }
        if !query.isEmpty {
            body += "<p role=\"status\">" + String(found).html + (found == 1 ? " result" : " results").html + " for “" + query.html + "”. "
                + "<a href=\"" + prefix.html + "\">Show everything</a></p>"
        }
        body += results
        return html(layout.page(title: query.isEmpty ? layout.siteTitle : "Search: \(query)", query: query, body: body))
    }

    func sectionIndex(_ section: any CatalogSection, _ request: CatalogRequest) async throws -> Response {
        let items = try await section.items(request)
        let body: HTML = "<h1>" + section.title.html + "</h1>" + itemList(section, items, request)
        return html(layout.page(title: section.title, body: body))
    }

    func itemList(_ section: any CatalogSection, _ items: [CatalogItem], _ request: CatalogRequest) -> HTML {
        guard !items.isEmpty else { return "<p class=\"muted\">Nothing here yet.</p>" }
        var list: HTML = "<ul class=\"items\">"
        for item in items {
            list += "<li><a href=\"" + request.link(section.slug, item.path).html + "\">" + item.name.html + "</a>"
            if !item.detail.isEmpty { list += " <span class=\"detail\">" + item.detail.html + "</span>" }
            if !item.description.isEmpty { list += "<br><span class=\"muted\">" + item.description.html + "</span>" }
            list += "</li>"
        }
        return list + "</ul>"
    }

    func unavailable(_ status: HTTPStatus, headers: HTTPFields = [:]) -> Response {
        html(layout.page(title: "Unavailable", body: "<h1>Unavailable</h1><p>The catalog could not read its sources just now. Try again shortly.</p>"),
             status: status, headers: headers)
    }

    func notFound(_ request: CatalogRequest) -> Response {
        html(layout.page(title: "Not found", body: "<h1>Not found</h1><p>Nothing here. <a href=\"" + prefix.html + "\">Back to the catalog</a></p>"),
             status: .notFound)
    }

    // MARK: Responses

    func html(_ page: HTML, status: HTTPStatus = .ok, headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [
            "Content-Type": "text/html; charset=utf-8",
            // Pages depend on who asks (auth) and change with the sources.
            "Cache-Control": "private, no-cache",
            // Nothing but the catalog's own script and stylesheet runs or loads scripts.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        ]
        for field in headers { fields.append(field) }
        return Response(status: status, headers: fields, body: ResponseBody(bytes: Array(page.markup.utf8)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(headers: ["Content-Type": type, "Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"],
                 body: ResponseBody(bytes: Array(text.utf8)))
    }

    static func plain(_ status: HTTPStatus, _ text: String, headers: HTTPFields = [:]) -> Response {
        var response = Response.text(text, status: status)
        for field in headers { response.headers.append(field) }
        return response
    }
}
