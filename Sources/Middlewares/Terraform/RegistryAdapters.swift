import Pipeline

/// Turns a configured source into the module and provider views the registry needs.
struct RegistryAdapters {
    let options: Options

    func moduleSource(_ name: String, context: BuildContext, at pointer: JSONPointer) -> (any ModuleRegistrySource)? {
        guard let source = context.source(name, as: (any Source).self, at: pointer, expected: "a source") else { return nil }
        if let modules = source as? any ModuleRegistrySource { return modules }
        context.diagnostics.error(pointer, "source \"\(name)\" cannot serve modules")
        return nil
    }

    func providerSource(_ name: String, context: BuildContext, at pointer: JSONPointer) -> (any ProviderRegistrySource)? {
        guard let source = context.source(name, as: (any Source).self, at: pointer, expected: "a source") else { return nil }
        if let providers = source as? any ProviderRegistrySource { return providers }
        context.diagnostics.error(pointer, "source \"\(name)\" cannot serve providers")
        return nil
    }
}
