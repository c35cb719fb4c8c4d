import Pipeline

/// One part of the catalog (Terraform modules, providers, APT packages, an OCI mirror): what it
/// holds, for the home page's counts and the search, and the pages beneath its own path.
///
/// A stack adds a section in three steps: a type conforming to `CatalogSection` in
/// `Sources/Middlewares/Catalog/` that reads its sources through the same views (and caches) as
/// the protocol behaviour; one option on `catalog` naming the source(s); one line in
/// `Catalog.sections(options:context:)` that builds it when the option is given.
public protocol CatalogSection: Sendable {
    /// The path segment beneath the catalog (`modules`): pages live at `<prefix><slug>/...`.
    var slug: String { get }
    /// What one item is called, singular and plural (`module`, `modules`).
    var noun: (one: String, many: String) { get }
    /// The section's heading (`Terraform modules`).
    var title: String { get }

    /// Everything the section holds, ordered for display; each item's `path` is beneath the section.
    func items(_ request: CatalogRequest) async throws -> [CatalogItem]

    /// The answer for `path` (the segments after the slug, percent-decoded; empty for the section's
    /// own page, which the catalog draws from `items` when this returns nil). Nil is a 404.
    func page(_ path: [String], _ request: CatalogRequest) async throws -> CatalogAnswer?
}

/// One entry of a section: what the home page lists and the search matches.
public struct CatalogItem: Sendable {
    /// The name shown (`acme/network/aws`).
    public var name: String
    public var description: String
    /// More words the search matches (namespace, package name, versions).
    public var keywords: [String]
    /// Path segments beneath the section (`["acme", "network", "aws"]`).
    public var path: [String]
    /// A short note beside the name (`1.2.0`).
    public var detail: String

    public init(name: String, description: String = "", keywords: [String] = [], path: [String], detail: String = "") {
        self.name = name
        self.description = description
        self.keywords = keywords
        self.path = path
        self.detail = detail
    }

    /// Whether every word of `query` occurs (case-insensitively) in the name, description or keywords.
    public func matches(_ query: String) -> Bool {
        let haystack = ([name, description] + keywords).joined(separator: "\n").lowercased()
        return query.lowercased().split(whereSeparator: \.isWhitespace).allSatisfy { haystack.contains($0) }
    }
}

/// What a section answers: a page drawn in the catalog's layout, or a response of its own (a file).
public enum CatalogAnswer: Sendable {
    case page(title: String, body: HTML)
    case response(Response)
}

/// The request as the catalog's sections see it: where the catalog lives and how to address the gateway.
public struct CatalogRequest: Sendable {
    public let request: Request
    public let context: Context
    /// The catalog's path prefix, ending in `/`.
    public let prefix: String
    /// `https`, as the client reached the gateway.
    public let scheme: String
    /// `host[:port]` the client used: registry addresses in snippets carry it.
    public let authority: String

    /// The catalog path of `segments` beneath `section` (percent-encoded), ending in `/` when `folder`.
    public func link(_ section: String, _ segments: [String] = [], folder: Bool = false) -> String {
        let parts = [section] + segments
        let path = prefix + parts.map(PercentEncoding.encodePathSegment).joined(separator: "/")
        return folder ? path + "/" : path
    }
}
