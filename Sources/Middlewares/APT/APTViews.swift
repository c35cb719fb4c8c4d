import Pipeline

/// How `apt.repository` reads a source, by capability: the first view whose capability the
/// source has is used; `gateway check` names them all when none fits.
struct APTViews {
    let repositories: [String]?
    let downstream: Downstream
    let store: APTControlStore

    var views: [SourceView<any APTPackageSource>] {
        [
            SourceView("APT packages of its own", as: (any APTPackageSource).self) { $0 },
            SourceView("a release feed (.deb assets of published releases)", as: (any ReleaseFeed).self) {
                ReleaseFeedPackages(feed: $0, repositories: repositories, downstream: downstream, store: store)
            },
            SourceView("a file tree (.deb files in any folder)", as: (any FileTree).self) { FileTreePackages(tree: $0) },
        ]
    }
}
