/// The page every catalog answer is drawn in: landmarks (header, nav, search, main, footer), a
/// skip link, the stylesheet and the small script that adds copy buttons (pages work without it).
struct CatalogLayout: Sendable {
    let siteTitle: String
    let prefix: String
    /// Links to each section: (slug, title).
    let sections: [(slug: String, title: String)]

    func page(title: String, query: String = "", body: HTML) -> HTML {
        var nav: HTML = "<li><a href=\"" + prefix.html + "\">Home</a></li>"
        for section in sections {
            nav += "<li><a href=\"" + (prefix + section.slug + "/").html + "\">" + section.title.html + "</a></li>"
        }
        let heading = title == siteTitle ? siteTitle.html : title.html + " · " + siteTitle.html
        return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            + "<meta name=\"color-scheme\" content=\"light dark\">\n"
            + "<title>" + heading + "</title>\n"
            + "<link rel=\"stylesheet\" href=\"" + (prefix + "catalog.css").html + "\">\n"
            + "<script src=\"" + (prefix + "catalog.js").html + "\" defer></script>\n"
            + "</head>\n<body>\n"
            + "<a class=\"skip\" href=\"#main\">Skip to content</a>\n"
            + "<header class=\"top\">\n<p class=\"brand\"><a href=\"" + prefix.html + "\">" + siteTitle.html + "</a></p>\n"
            + "<nav aria-label=\"Sections\"><ul>" + nav + "</ul></nav>\n"
            + "<form class=\"search\" role=\"search\" action=\"" + prefix.html + "\" method=\"get\">"
            + "<label for=\"q\">Search the catalog</label>"
            + "<input id=\"q\" name=\"q\" type=\"search\" value=\"" + query.html + "\" placeholder=\"name, namespace, description\">"
            + "<button type=\"submit\">Search</button></form>\n</header>\n"
            + "<main id=\"main\" tabindex=\"-1\">\n" + body + "\n</main>\n"
            + "<footer><p>Served by gateway. Everything here is also available to Terraform and other clients at this address.</p></footer>\n"
            + "</body>\n</html>\n"
    }

    /// A copyable snippet: a labelled `pre` the script gives a copy button.
    static func snippet(id: String, label: String, text: String) -> HTML {
        "<figure class=\"snippet\"><figcaption id=\"" + (id + "-label").html + "\">" + label.html + "</figcaption>"
            + "<pre id=\"" + id.html + "\" aria-labelledby=\"" + (id + "-label").html + "\" data-copy><code>" + text.html + "</code></pre></figure>"
    }

    /// A table with a caption, header cells and rows of cells (already markup).
    static func table(caption: String, headers: [String], rows: [[HTML]]) -> HTML {
        var out: HTML = "<div class=\"scroll\"><table><caption>" + caption.html + "</caption><thead><tr>"
        for header in headers { out += "<th scope=\"col\">" + header.html + "</th>" }
        out += "</tr></thead><tbody>"
        for row in rows {
            out += "<tr>"
            for (index, cell) in row.enumerated() { out += (index == 0 ? "<th scope=\"row\">" : "<td>") + cell + (index == 0 ? "</th>" : "</td>") }
            out += "</tr>"
        }
        return out + "</tbody></table></div>"
    }
}
