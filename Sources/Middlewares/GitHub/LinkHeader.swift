import Pipeline

/// The `Link` header GitHub paginates with (RFC 8288):
/// `<https://api.github.com/repositories/1/tags?page=2>; rel="next", <…?page=5>; rel="last"`.
public struct LinkHeader: Sendable, Equatable {
    /// Target URLs by relation (`next`, `last`, `prev`, `first`).
    public private(set) var links: [String: String] = [:]

    public init(_ values: [String]) {
        for value in values { parse(Substring(value)) }
    }

    public init(_ value: String?) { self.init(value.map { [$0] } ?? []) }

    /// The URL of the next page, if there is one.
    public var next: String? { links["next"] }

    private mutating func parse(_ text: Substring) {
        var rest = text
        // Each link is `<target>` followed by `;`-separated parameters; the target is bracketed, so
        // commas inside it (RFC 3986 allows them) do not split links.
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { return }
            let target = String(rest[rest.index(after: open)..<close])
            rest = rest[rest.index(after: close)...]
            let end = rest.firstIndex(of: "<") ?? rest.endIndex
            let parameters = rest[..<end]
            rest = rest[end...]
            for parameter in parameters.split(separator: ";") {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingASCIIWhitespace().lowercasedASCII() == "rel" else { continue }
                var value = pair[1].trimmingASCIIWhitespace()
                while let last = value.last, last == "," || last == " " { value.removeLast() }
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                // `rel` may hold several space-separated relation types (RFC 8288 §3.3).
                for relation in value.split(separator: " ") where links[String(relation).lowercasedASCII()] == nil {
                    links[String(relation).lowercasedASCII()] = target
                }
            }
        }
    }
}
