import Pipeline

/// Turns a configured source into the module and provider views the registry needs: a
/// `directory` source serves them itself; a `github` source is mapped by repository naming
/// (`namespace`, `monorepos` options of the registry).
struct RegistryAdapters {
    let options: Options
    private var githubViews: [ObjectIdentifier: GitHubRegistry] = [:]

    init(options: Options) { self.options = options }

    mutating func moduleSource(_ name: String, context: BuildContext, at pointer: JSONPointer) -> (any ModuleRegistrySource)? {
        guard let source = context.source(name, as: (any Source).self, at: pointer, expected: "a source") else { return nil }
        if let github = source as? GitHubSource { return view(of: github) }
        if let modules = source as? any ModuleRegistrySource { return modules }
        context.diagnostics.error(pointer, "source \"\(name)\" cannot serve modules")
        return nil
    }

    mutating func providerSource(_ name: String, context: BuildContext, at pointer: JSONPointer) -> (any ProviderRegistrySource)? {
        guard let source = context.source(name, as: (any Source).self, at: pointer, expected: "a source") else { return nil }
        if let github = source as? GitHubSource { return view(of: github) }
        if let providers = source as? any ProviderRegistrySource { return providers }
        context.diagnostics.error(pointer, "source \"\(name)\" cannot serve providers")
        return nil
    }

    /// One view per GitHub source, shared by modules and providers.
    private mutating func view(of github: GitHubSource) -> GitHubRegistry {
        if let existing = githubViews[ObjectIdentifier(github)] { return existing }
        var monorepos: [GitHubRegistry.Monorepo] = []
        for entry in options.objects("monorepos", allowed: ["repository", "tagPattern", "path"]) {
            guard let repository = entry.string("repository", required: true) else { continue }
            let pattern = entry.string("tagPattern") ?? "{name}/{system}/v{version}"
            if !pattern.contains("{version}") { entry.error("tagPattern", "must contain {version}") }
            if !pattern.contains("{name}") && !pattern.contains("{system}") {
                entry.error("tagPattern", "must contain {name} or {system}, or every module would share the repository's versions")
            }
            monorepos.append(GitHubRegistry.Monorepo(repository: repository, tagPattern: pattern,
                                                     pathPattern: entry.string("path") ?? "{name}/{system}"))
        }
        let view = GitHubRegistry(github: github, namespace: options.string("namespace") ?? github.owner, monorepos: monorepos)
        githubViews[ObjectIdentifier(github)] = view
        return view
    }
}
