import Pipeline

/// How `terraform.registry` reads a source, by capability: the table this folder owns. The first
/// view whose capability the source has is used; `gateway check` names them all when none fits.
///
/// To serve Terraform from a new kind of source, either conform the source to
/// `ProviderRegistrySource` (or `ModuleRegistrySource`) in its own folder — the first line of each
/// table uses such a source as it is — or give it a capability of its own and add one line below
/// that makes a view of it.
final class RegistryViews {
    let options: Options
    let downstream: Downstream
    /// One view per release feed and namespace, shared by modules and providers and by every
    /// behaviour of the load that reads Terraform from the feed (the registry, the catalog), so
    /// their caches (SHA256SUMS by asset id) are one.
    private let feedViews: FeedViewTable
    /// The views made here (not found in the table): the behaviour that made them owns and stops
    /// them (a source used as it is belongs to its load, which stops it).
    private var created: [ReleaseFeedRegistry] = []
    var owned: [any Stoppable] { created.map { $0 } }

    /// The views of one load, kept in `BuildContext.shared`.
    final class FeedViewTable: @unchecked Sendable {
        // Touched only while a load builds (one thread).
        var views: [String: ReleaseFeedRegistry] = [:]
    }

    init(options: Options, downstream: Downstream, context: BuildContext) {
        self.options = options
        self.downstream = downstream
        if let table = context.shared["terraform.feedViews"] as? FeedViewTable {
            feedViews = table
        } else {
            feedViews = FeedViewTable()
            context.shared["terraform.feedViews"] = feedViews
        }
    }

    var modules: [SourceView<any ModuleRegistrySource>] {
        [
            SourceView("Terraform modules of its own", as: (any ModuleRegistrySource).self) { $0 },
            SourceView("a release feed (repositories terraform-<system>-<name>)", as: (any ReleaseFeed).self) { self.view(of: $0) },
            SourceView("a file tree (modules/<namespace>/<name>/<system>/<version>)", as: (any FileTree).self) { FileTreeRegistry(tree: $0) },
        ]
    }

    var providers: [SourceView<any ProviderRegistrySource>] {
        [
            SourceView("Terraform providers of its own", as: (any ProviderRegistrySource).self) { $0 },
            SourceView("a release feed (releases of repositories terraform-provider-<type>)", as: (any ReleaseFeed).self) { self.view(of: $0) },
            SourceView("a file tree (providers/<namespace>/<type>/<version>)", as: (any FileTree).self) { FileTreeRegistry(tree: $0) },
        ]
    }

    /// The view of a release feed, reading the registry's `namespace` and `monorepos` options.
    private func view(of feed: any ReleaseFeed) -> ReleaseFeedRegistry {
        let namespace = options.string("namespace") ?? feed.owner
        let key = "\(ObjectIdentifier(feed as AnyObject))|\(namespace)|" + monorepos.map { "\($0.repository) \($0.tagPattern) \($0.pathPattern)" }.joined(separator: "|")
        if let existing = feedViews.views[key] { return existing }
        let view = ReleaseFeedRegistry(feed: feed, namespace: namespace, monorepos: monorepos, downstream: downstream)
        feedViews.views[key] = view
        created.append(view)
        return view
    }

    /// The `monorepos` option, read once (its errors reported once).
    private lazy var monorepos: [ReleaseFeedRegistry.Monorepo] = {
        var monorepos: [ReleaseFeedRegistry.Monorepo] = []
        for entry in options.objects("monorepos", allowed: ["repository", "tagPattern", "path"]) {
            guard let repository = entry.string("repository", required: true) else { continue }
            let pattern = entry.string("tagPattern") ?? "{name}/{system}/v{version}"
            if !pattern.contains("{version}") { entry.error("tagPattern", "must contain {version}") }
            if !pattern.contains("{name}") && !pattern.contains("{system}") {
                entry.error("tagPattern", "must contain {name} or {system}, or every module would share the repository's versions")
            }
            monorepos.append(ReleaseFeedRegistry.Monorepo(repository: repository, tagPattern: pattern,
                                                          pathPattern: entry.string("path") ?? "{name}/{system}"))
        }
        return monorepos
    }()
}
