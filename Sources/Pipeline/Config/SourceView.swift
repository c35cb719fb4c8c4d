/// One way a behaviour can read a source: the capability the source must have (a protocol it
/// conforms to, such as a file tree or a release feed) and the view the behaviour makes of it. A
/// behaviour keeps a small table of these in its own folder, in order of preference, and
/// `BuildContext.source(_:at:for:views:)` picks the first that fits, or says what was missing.
///
/// ```swift
/// let views: [SourceView<any ModuleRegistrySource>] = [
///     SourceView("a file tree", as: (any FileTree).self) { FileTreeRegistry(tree: $0) },
/// ]
/// ```
public struct SourceView<View> {
    /// The capability as a user reads it in an error ("a file tree").
    public let capability: String
    let make: (any Source) -> View?

    public init<Capability>(_ capability: String, as type: Capability.Type, make: @escaping (Capability) -> View) {
        self.capability = capability
        self.make = { source in (source as? Capability).map(make) }
    }
}

extension BuildContext {
    /// The source called `name` seen through the first of `views` whose capability it has. Reports
    /// an unknown name, or a source without any of the capabilities, at `pointer`: `purpose` says
    /// what it was for ("Terraform providers").
    public func source<View>(_ name: String, at pointer: JSONPointer, for purpose: String, views: [SourceView<View>]) -> View? {
        guard let source = source(name, as: (any Source).self, at: pointer, expected: "a source") else { return nil }
        for view in views {
            if let made = view.make(source) { return made }
        }
        let kind = sourceValues[name]?["type"]?.string.map { " (\($0))" } ?? ""
        var needs = views.map(\.capability)
        let last = needs.popLast() ?? "nothing"
        let alternatives = needs.isEmpty ? last : needs.joined(separator: ", ") + " or " + last
        diagnostics.error(pointer, "source \"\(name)\"\(kind) cannot serve \(purpose): that needs a source with \(alternatives)")
        return nil
    }
}
