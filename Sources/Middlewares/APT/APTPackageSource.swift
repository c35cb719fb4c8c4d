import Pipeline

/// How `apt.repository` reads a source: the `.deb` packages it holds. Views of capabilities
/// (APTViews) conform to it; the repository renders and signs what they list.
protocol APTPackageSource: Sendable {
    /// A cheap value that changes whenever the packages may have changed.
    func generation() async throws -> String
    /// A value read without any I/O that changes when the source learnt of a change (a webhook
    /// invalidated a release feed): the index is then checked at once, whatever `freshFor` says.
    /// Nil when the source has none.
    var cheapGeneration: String? { get }
    /// Every readable package now, and the newest time of anything in the source (the Release's
    /// Date). Packages that cannot be read are left out with one log line each, and read again
    /// only when they change. `components` are the repository's; the first is the default.
    func scan(components: [String]) async throws -> APTScan
    /// Where the bytes of `package` are.
    func object(_ package: APTPackage) async throws -> APTObject
}

/// What a scan found.
struct APTScan: Sendable {
    var packages: [APTPackage]
    /// Seconds since 1970; 0 when the source is empty.
    var newest: Int64
}

/// Where a package's bytes are: a file to send as it is, or an upstream request to send down
/// the chain (a release asset, through the stack's `cache` and `upstream`).
enum APTObject: Sendable {
    case file(OpenFile)
    case upstream(Request)
}

extension APTPackageSource {
    var cheapGeneration: String? { nil }
}
