internal import CCmarkGFM
internal import Glibc

/// GitHub Flavored Markdown to HTML with GitHub's own renderer (libcmark-gfm: tables,
/// strikethrough, autolinks, task lists), for READMEs shown to people.
///
/// What a README may not do is taken away before rendering: raw HTML (blocks and inline tags) is
/// turned into text, so `<script>` shows as the characters it is and never runs; `javascript:` and
/// other unsafe URLs are dropped by cmark's safe mode; relative link and image URLs are handed to
/// `resolve`, which says where they point (nil keeps them as they are).
///
/// ```swift
/// let html = Markdown.html("# Title\n<script>x()</script>") { url, isImage in "/files/" + url }
/// ```
public enum Markdown {
    /// Rendering is limited to inputs of this size; longer text is cut (a README is a few KiB).
    public static let maxInputBytes = 1 << 20

    /// `headingOffset` moves every heading down that many levels (at most to `h6`), so a README's
    /// `#` sits below the page's own `h1`.
    public static func html(_ text: String, headingOffset: Int = 0,
                            resolve: (_ url: String, _ isImage: Bool) -> String? = { _, _ in nil }) -> String {
        cmark_gfm_core_extensions_ensure_registered()
        let options = ccmark_opt_default() | ccmark_opt_validate_utf8() | ccmark_opt_github_pre_lang()
        guard let parser = cmark_parser_new(options) else { return "" }
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough", "autolink", "tasklist"] {
            if let extensionValue = cmark_find_syntax_extension(name) { cmark_parser_attach_syntax_extension(parser, extensionValue) }
        }
        var bytes = Array(text.utf8.prefix(maxInputBytes))
        bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { cmark_parser_feed(parser, $0, buffer.count) }
        }
        guard let document = cmark_parser_finish(parser) else { return "" }
        defer { cmark_node_free(document) }
        neutralize(document, headingOffset: headingOffset, resolve: resolve)
        guard let rendered = cmark_render_html(document, options, cmark_parser_get_syntax_extensions(parser)) else { return "" }
        defer { free(rendered) }
        bytes = []
        return String(cString: rendered)
    }

    /// Raw HTML becomes text (a block becomes a code block, inline HTML a text node); relative
    /// URLs are resolved. Nodes are changed after the walk: an iterator must not see its tree change.
    private static func neutralize(_ document: OpaquePointer, headingOffset: Int, resolve: (String, Bool) -> String?) {
        var htmlNodes: [OpaquePointer] = []
        var unsafeLinks: [OpaquePointer] = []
        guard let iterator = cmark_iter_new(document) else { return }
        while true {
            let event = cmark_iter_next(iterator)
            if event == CMARK_EVENT_DONE { break }
            guard event == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iterator) else { continue }
            let type = cmark_node_get_type(node)
            if type == CMARK_NODE_HEADING, headingOffset != 0 {
                _ = cmark_node_set_heading_level(node, min(6, max(1, cmark_node_get_heading_level(node) + Int32(headingOffset))))
            } else if type == CMARK_NODE_HTML_BLOCK || type == CMARK_NODE_HTML_INLINE {
                htmlNodes.append(node)
            } else if type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE, let url = cmark_node_get_url(node) {
                let text = String(cString: url)
                if isRelative(text) {
                    if let resolved = resolve(text, type == CMARK_NODE_IMAGE) { _ = cmark_node_set_url(node, resolved) }
                } else if !isSafe(text) {
                    unsafeLinks.append(node)
                }
            }
        }
        cmark_iter_free(iterator)
        // A `javascript:` link keeps its text and loses the link (cmark would leave an empty href).
        for node in unsafeLinks {
            while let child = cmark_node_first_child(node) {
                cmark_node_unlink(child)
                _ = cmark_node_insert_before(node, child)
            }
            cmark_node_unlink(node)
            cmark_node_free(node)
        }
        for node in htmlNodes {
            let block = cmark_node_get_type(node) == CMARK_NODE_HTML_BLOCK
            guard let replacement = cmark_node_new(block ? CMARK_NODE_CODE_BLOCK : CMARK_NODE_TEXT) else { continue }
            let literal = cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
            _ = cmark_node_set_literal(replacement, literal)
            _ = cmark_node_insert_before(node, replacement)
            cmark_node_unlink(node)
            cmark_node_free(node)
        }
    }

    /// Absolute URLs a README may link to: web pages and mail addresses, nothing a browser runs.
    public static func isSafe(_ url: String) -> Bool {
        let lower = url.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("mailto:") || url.hasPrefix("#")
            || (url.hasPrefix("/") && !url.hasPrefix("//")) || url.hasPrefix("//")
    }

    /// A URL with no scheme, not starting at the root or with `//`, and not a fragment: relative to the document.
    public static func isRelative(_ url: String) -> Bool {
        guard !url.isEmpty, !url.hasPrefix("#"), !url.hasPrefix("/") else { return false }
        if let colon = url.firstIndex(of: ":") {
            let scheme = url[..<colon]
            let isScheme = scheme.first?.isLetter == true
                && scheme.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }
            if isScheme { return false }
        }
        return true
    }
}
