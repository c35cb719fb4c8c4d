/// Markup that is safe to put in a page: made from escaped text, from other `HTML`, or from
/// trusted markup (the page layout, Markdown rendered with raw HTML neutralized).
///
/// ```swift
/// let cell: HTML = "<td>" + HTML(text: name) + "</td>"
/// ```
public struct HTML: Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public private(set) var markup: String

    /// Trusted markup, as it is (literals in code, the renderer's output).
    public init(trusted markup: String) { self.markup = markup }
    /// Text, escaped for element content and quoted attribute values.
    public init(text: String) { self.markup = HTML.escape(text) }
    public init(stringLiteral value: String) { self.markup = value }

    public var description: String { markup }

    public static func + (lhs: HTML, rhs: HTML) -> HTML { HTML(trusted: lhs.markup + rhs.markup) }
    public static func += (lhs: inout HTML, rhs: HTML) { lhs.markup += rhs.markup }

    /// `&`, `<`, `>`, `"` and `'` as character references.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// The concatenation of `parts`.
    public static func join(_ parts: [HTML], separator: HTML = "") -> HTML {
        HTML(trusted: parts.map(\.markup).joined(separator: separator.markup))
    }
}

extension String {
    /// Escaped for HTML (shorthand inside markup-building code).
    var html: HTML { HTML(text: self) }
}
