import Pipeline

/// What the catalog needs of a Terraform view beyond what the registry asks: what it holds, when
/// each version was published, and a module's files (its README, the images it shows). Views of
/// the Terraform folder conform in this folder; a source that is a `ModuleRegistrySource` itself
/// conforms too if it wants to be listed.
protocol TerraformCatalogListing: Sendable {
    func catalogModules() async throws -> [(module: ModuleAddress, description: String?)]
    /// Publication dates (`YYYY-MM-DD`) by version ref, where known.
    func catalogModuleDates(_ module: ModuleAddress) async throws -> [String: String]
    /// A file of the module at `ref`, `path` relative to the module's root (checked: no `..`).
    func catalogModuleFile(_ module: ModuleAddress, ref: String, path: String) async throws -> [UInt8]?
    func catalogProviders() async throws -> [(provider: ProviderAddress, description: String?)]
    func catalogProviderDates(_ provider: ProviderAddress) async throws -> [String: String]
}

enum CatalogDate {
    /// `YYYY-MM-DD` of seconds since 1970 (UTC).
    static func day(_ seconds: Int64) -> String {
        let date = HTTPDate.civil(seconds)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(date.year)-\(two(date.month))-\(two(date.day))"
    }

    /// The day of an ISO 8601 timestamp (`2024-05-01T10:00:00Z`).
    static func day(iso: String?) -> String? {
        guard let iso, iso.count >= 10 else { return nil }
        return String(iso.prefix(10))
    }
}

/// A relative file path inside a module with `.` and `..` resolved; nil when it leaves the module.
func normalizedModulePath(_ path: String) -> String? {
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        if part == "." { continue }
        if part == ".." {
            guard !parts.isEmpty else { return nil }
            parts.removeLast()
            continue
        }
        if part.contains("\0") { return nil }
        parts.append(part)
    }
    return parts.isEmpty ? nil : parts.joined(separator: "/")
}

extension FileTreeRegistry: TerraformCatalogListing {
    func catalogModules() async throws -> [(module: ModuleAddress, description: String?)] {
        var found: [(module: ModuleAddress, description: String?)] = []
        for namespace in try await names("modules") ?? [] where Self.isSafeName(namespace) {
            for name in try await names("modules/\(namespace)") ?? [] where Self.isSafeName(name) {
                for system in try await names("modules/\(namespace)/\(name)") ?? [] where Self.isSafeName(system) {
                    found.append((ModuleAddress(namespace: namespace, name: name, system: system), nil))
                }
            }
        }
        return found
    }

    func catalogModuleDates(_ module: ModuleAddress) async throws -> [String: String] {
        guard let folder = moduleFolder(module), let entries = try await tree.list(folder, recursive: false) else { return [:] }
        var dates: [String: String] = [:]
        for entry in entries {
            let name = String(entry.name)
            dates[name.hasSuffix(".tar.gz") ? String(name.dropLast(7)) : name] = CatalogDate.day(entry.status.modified)
        }
        return dates
    }

    func catalogModuleFile(_ module: ModuleAddress, ref: String, path: String) async throws -> [UInt8]? {
        guard let folder = moduleFolder(module), Self.isSafeName(ref), let path = normalizedModulePath(path) else { return nil }
        return try await tree.read("\(folder)/\(ref)/\(path)", limit: Markdown.maxInputBytes)
    }

    func catalogProviders() async throws -> [(provider: ProviderAddress, description: String?)] {
        var found: [(provider: ProviderAddress, description: String?)] = []
        for namespace in try await names("providers") ?? [] where Self.isSafeName(namespace) {
            for type in try await names("providers/\(namespace)") ?? [] where Self.isSafeName(type) {
                found.append((ProviderAddress(namespace: namespace, type: type), nil))
            }
        }
        return found
    }

    func catalogProviderDates(_ provider: ProviderAddress) async throws -> [String: String] {
        guard let folder = providerFolder(provider), let entries = try await tree.list(folder, recursive: false) else { return [:] }
        return Dictionary(entries.map { (String($0.name), CatalogDate.day($0.status.modified)) }, uniquingKeysWith: { first, _ in first })
    }
}

extension ReleaseFeedRegistry: TerraformCatalogListing {
    func catalogModules() async throws -> [(module: ModuleAddress, description: String?)] {
        let repositories = try await feed.repositories()
        let monorepoNames = Set(monorepos.map(\.repository))
        var found: [(module: ModuleAddress, description: String?)] = []
        for repository in repositories where !monorepoNames.contains(repository.name) {
            // terraform-<system>-<name>; the system is one word, the name may hold dashes.
            guard repository.name.hasPrefix("terraform-"), !repository.name.hasPrefix("terraform-provider-") else { continue }
            let parts = repository.name.dropFirst("terraform-".count).split(separator: "-", maxSplits: 1)
            guard parts.count == 2 else { continue }
            found.append((ModuleAddress(namespace: namespace, name: String(parts[1]), system: String(parts[0])), repository.description))
        }
        for mono in monorepos {
            let description = repositories.first { $0.name == mono.repository }?.description
            var seen: Set<ModuleAddress> = []
            for tag in try await feed.tags(repo: mono.repository) {
                guard let (name, system) = Self.parts(of: tag.name, pattern: mono.tagPattern) else { continue }
                let module = ModuleAddress(namespace: namespace, name: name, system: system)
                if seen.insert(module).inserted { found.append((module, description)) }
            }
        }
        return found
    }

    /// The `{name}` and `{system}` of a monorepo tag, when it fits the pattern (placeholders are
    /// one path segment each).
    static func parts(of tag: String, pattern: String) -> (name: String, system: String)? {
        var rest = Substring(tag)
        var values: [String: String] = [:]
        var remaining = Substring(pattern)
        while !remaining.isEmpty {
            if remaining.hasPrefix("{"), let close = remaining.firstIndex(of: "}") {
                let key = String(remaining[remaining.index(after: remaining.startIndex)..<close])
                remaining = remaining[remaining.index(after: close)...]
                // The value runs to the next literal text of the pattern (or the end).
                let literal = remaining.prefix { $0 != "{" }
                let end: Substring.Index
                if literal.isEmpty {
                    end = rest.endIndex
                } else if let range = rest.firstRange(of: literal) {
                    end = range.lowerBound
                } else {
                    return nil
                }
                let value = String(rest[..<end])
                guard !value.isEmpty, !value.contains("/") || key == "version" else { return nil }
                values[key] = value
                rest = rest[end...]
            } else {
                guard let first = remaining.first, rest.first == first else { return nil }
                remaining = remaining.dropFirst()
                rest = rest.dropFirst()
            }
        }
        guard rest.isEmpty, let version = values["version"], Semver(lenient: version) != nil else { return nil }
        let name = values["name"] ?? "", system = values["system"] ?? ""
        guard FileTreeRegistry.isSafeName(name), FileTreeRegistry.isSafeName(system) else { return nil }
        return (name, system)
    }

    func catalogModuleDates(_ module: ModuleAddress) async throws -> [String: String] {
        guard let location = location(module) else { return [:] }
        return Self.dates(try await feed.releases(repo: location.repository))
    }

    func catalogModuleFile(_ module: ModuleAddress, ref: String, path: String) async throws -> [UInt8]? {
        guard let location = location(module), let path = normalizedModulePath(path) else { return nil }
        let full = location.subdirectory.isEmpty ? path : location.subdirectory + "/" + path
        return try await feed.file(repo: location.repository, path: full, ref: ref)
    }

    func catalogProviders() async throws -> [(provider: ProviderAddress, description: String?)] {
        try await feed.repositories().compactMap { repository in
            guard repository.name.hasPrefix("terraform-provider-") else { return nil }
            let type = String(repository.name.dropFirst("terraform-provider-".count))
            guard FileTreeRegistry.isSafeName(type) else { return nil }
            return (ProviderAddress(namespace: namespace, type: type), repository.description)
        }
    }

    func catalogProviderDates(_ provider: ProviderAddress) async throws -> [String: String] {
        Self.dates(try await feed.releases(repo: "terraform-provider-\(provider.type)"))
    }

    static func dates(_ releases: [Release]) -> [String: String] {
        var dates: [String: String] = [:]
        for release in releases where !release.draft {
            if let day = CatalogDate.day(iso: release.publishedAt) { dates[release.tag] = day }
        }
        return dates
    }
}
