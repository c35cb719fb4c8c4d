import Foundation
import Pipeline

/// A repository of the fixture folder.
struct FixtureRepo: Sendable {
    let owner: String
    let name: String
    let directory: String
    let isPrivate: Bool
    let topics: [String]
    let description: String?
    let archived: Bool
    var id: Int { StableID.of("repo:\(owner.lowercased())/\(name.lowercased())") }
    var fullName: String { "\(owner)/\(name)" }
}

/// A release read from `releases/<owner>/<repo>/<tag>.json`.
struct FixtureRelease: Sendable {
    let id: Int
    let tag: String
    let name: String?
    let body: String?
    let draft: Bool
    let prerelease: Bool
    let targetCommitish: String?
    /// Seconds since 1970.
    let createdAt: Double
    let publishedAt: Double?
    let assets: [FixtureAsset]
}

/// A release asset: a file beside the release JSON.
struct FixtureAsset: Sendable {
    let id: Int
    let name: String
    let label: String
    let contentType: String
    let size: Int64
    let path: String
    let createdAt: Double
    /// `uploaded`, or `open` while the upload is still under way.
    let state: String
}

/// The fixture folder, read on every request (tests add tags and releases while the stand-in runs):
///
/// ```
/// <root>/standin.json
/// <root>/repos/<owner>/<repo>/          a git repository (working tree or bare), tags and branches made with git
/// <root>/repos/<owner>/<repo>.json      optional: {"private": true, "topics": [...], "description": "...", "archived": false}
/// <root>/repos/<owner>/<old>.json        {"movedTo": "<repo>"} alone: a renamed repository (the API answers 301)
/// <root>/releases/<owner>/<repo>/<tag>.json    {"name", "body", "draft", "prerelease", "created_at", "assets": [...]}
///                                               (an asset: a name, or {"name", "file", "label", "content_type", "state"})
/// <root>/releases/<owner>/<repo>/<tag>/<file>  the assets (all files there when "assets" is not given)
/// ```
/// A tag containing `/` is written with `%2F` in file names.
struct FixtureStore: Sendable {
    let root: String

    private var fileManager: FileManager { FileManager.default }

    /// Owner logins that have a folder under `repos/`.
    func owners() -> [String] {
        ((try? fileManager.contentsOfDirectory(atPath: root + "/repos")) ?? []).filter { isDirectory(root + "/repos/" + $0) }.sorted()
    }

    /// The owner's login as the fixtures spell it (GitHub logins are case-insensitive).
    func owner(_ login: String) -> String? {
        owners().first { $0 == login } ?? owners().first { $0.lowercased() == login.lowercased() }
    }

    /// Every repository of `owner`, by name.
    func repos(owner login: String) -> [FixtureRepo] {
        guard let owner = owner(login) else { return [] }
        let base = root + "/repos/" + owner
        let names = ((try? fileManager.contentsOfDirectory(atPath: base)) ?? []).filter { isGitRepository(base + "/" + $0) }.sorted()
        return names.map { load(owner: owner, name: $0) }
    }

    /// One repository, matched case-insensitively as GitHub does.
    func repo(owner login: String, name: String) -> FixtureRepo? {
        guard let owner = owner(login), !name.contains("/"), name != ".", name != ".." else { return nil }
        let base = root + "/repos/" + owner
        if isGitRepository(base + "/" + name) { return load(owner: owner, name: name) }
        let names = (try? fileManager.contentsOfDirectory(atPath: base)) ?? []
        guard let match = names.first(where: { $0.lowercased() == name.lowercased() && isGitRepository(base + "/" + $0) }) else { return nil }
        return load(owner: owner, name: match)
    }

    /// The repository `name` of `owner` was renamed to (`<name>.json` holding `{"movedTo": "..."}`
    /// where no repository of that name is left), if it exists.
    func movedRepo(owner login: String, name: String) -> FixtureRepo? {
        guard let owner = owner(login), !name.contains("/"), name != ".", name != "..",
              let data = fileManager.contents(atPath: root + "/repos/\(owner)/\(name).json"),
              let target = (try? JSONParser.parse([UInt8](data)))?["movedTo"]?.string else { return nil }
        return repo(owner: owner, name: target)
    }

    /// The repository with GitHub id `id` (`/repositories/{id}/…`).
    func repo(id: Int) -> FixtureRepo? {
        for owner in owners() {
            if let repo = repos(owner: owner).first(where: { $0.id == id }) { return repo }
        }
        return nil
    }

    private func load(owner: String, name: String) -> FixtureRepo {
        let directory = root + "/repos/\(owner)/\(name)"
        var meta = JSONValue.object(JSONObject())
        if let data = fileManager.contents(atPath: directory + ".json"), let parsed = try? JSONParser.parse([UInt8](data)) { meta = parsed }
        return FixtureRepo(owner: owner, name: name, directory: directory, isPrivate: meta["private"]?.bool ?? false,
                           topics: meta["topics"]?.array?.compactMap(\.string) ?? [], description: meta["description"]?.string,
                           archived: meta["archived"]?.bool ?? false)
    }

    // MARK: git

    /// The branch HEAD names.
    func defaultBranch(_ repo: FixtureRepo) async -> String {
        await Git.text(["symbolic-ref", "--short", "HEAD"], in: repo.directory) ?? "main"
    }

    /// Tags with the commit each points at (annotated tags peeled), newest name first.
    func tags(_ repo: FixtureRepo) async throws -> [(name: String, sha: String)] {
        let output = try await Git.run(["for-each-ref", "--sort=-v:refname", "--format=%(refname:strip=2) %(objectname) %(*objectname)",
                                        "refs/tags"], in: repo.directory)
        return String(decoding: output, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count >= 2 else { return nil }
            return (String(parts[0]), String(parts.count >= 3 ? parts[2] : parts[1]))
        }
    }

    /// The commit a ref (tag, branch, `refs/...` or SHA) names, or nil.
    func resolve(_ repo: FixtureRepo, ref: String) async -> String? {
        guard Self.isSafeRef(ref) else { return nil }
        return await Git.text(["rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"], in: repo.directory)
    }

    /// What is at `path` in commit `sha`: a file's bytes, a directory's entries, or nil.
    func content(_ repo: FixtureRepo, path: String, sha: String) async -> Content? {
        let clean = path.split(separator: "/").joined(separator: "/")
        let object = sha + ":" + clean
        switch await Git.text(["cat-file", "-t", object], in: repo.directory) {
        case "blob":
            guard let bytes = try? await Git.run(["cat-file", "blob", object], in: repo.directory),
                  let id = await Git.text(["rev-parse", object], in: repo.directory) else { return nil }
            return .file(Content.Entry(type: "blob", object: id, size: bytes.count, path: clean), bytes)
        case "tree":
            guard let listing = await Git.text(["ls-tree", "--long", object], in: repo.directory) else { return nil }
            return .directory(listing.split(separator: "\n").compactMap { Content.Entry(lsTree: $0, parent: clean) })
        default:
            return nil
        }
    }

    /// What the contents API describes.
    enum Content: Sendable {
        struct Entry: Sendable {
            let type: String
            let object: String
            let size: Int
            let path: String

            init(type: String, object: String, size: Int, path: String) {
                self.type = type
                self.object = object
                self.size = size
                self.path = path
            }

            init?(lsTree line: Substring, parent: String) {
                // "<mode> <type> <object> <size>\t<path>"
                guard let tab = line.firstIndex(of: "\t") else { return nil }
                let fields = line[..<tab].split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count == 4 else { return nil }
                type = String(fields[1])
                object = String(fields[2])
                size = Int(fields[3]) ?? 0
                let name = String(line[line.index(after: tab)...])
                path = parent.isEmpty ? name : parent + "/" + name
            }
        }

        case file(Entry, [UInt8])
        case directory([Entry])
    }

    /// Writes the archive of `sha` to a new temporary file: `git archive` with GitHub's top
    /// directory `owner-repo-<sha7>/`.
    func archive(_ repo: FixtureRepo, sha: String, zip: Bool) async throws -> (path: String, prefix: String) {
        let prefix = "\(repo.owner)-\(repo.name)-\(sha.prefix(7))"
        let path = NSTemporaryDirectory() + "standin-\(UUID().uuidString).\(zip ? "zip" : "tar.gz")"
        try await Git.run(["archive", "--format=\(zip ? "zip" : "tar.gz")", "--prefix=\(prefix)/", "--end-of-options", sha],
                          in: repo.directory, output: path)
        return (path, prefix)
    }

    // MARK: releases

    /// The repository's releases, newest first (by `created_at`, then tag).
    func releases(_ repo: FixtureRepo) -> [FixtureRelease] {
        let base = root + "/releases/\(repo.owner)/\(repo.name)"
        let files = ((try? fileManager.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasSuffix(".json") }
        return files.compactMap { loadRelease(repo, base: base, file: $0) }
            .sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.tag > $1.tag }
    }

    private func loadRelease(_ repo: FixtureRepo, base: String, file: String) -> FixtureRelease? {
        let stem = String(file.dropLast(5))
        let tag = stem.replacingOccurrences(of: "%2F", with: "/").replacingOccurrences(of: "%25", with: "%")
        guard let data = fileManager.contents(atPath: base + "/" + file), let json = try? JSONParser.parse([UInt8](data)) else { return nil }
        let modified = (try? fileManager.attributesOfItem(atPath: base + "/" + file)[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let created = json["created_at"]?.string.flatMap(WallClock.parse) ?? modified
        let draft = json["draft"]?.bool ?? false
        let assetDir = base + "/" + stem
        var assets: [FixtureAsset] = []
        let listed: [JSONValue] = json["assets"]?.array
            ?? ((try? fileManager.contentsOfDirectory(atPath: assetDir)) ?? []).sorted().map { .string($0) }
        for item in listed {
            let name = item.string ?? item["name"]?.string ?? ""
            let fileName = item["file"]?.string ?? name
            guard !name.isEmpty, !fileName.contains(".."), let attributes = try? fileManager.attributesOfItem(atPath: assetDir + "/" + fileName)
            else { continue }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            let assetCreated = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? created
            assets.append(FixtureAsset(id: StableID.of("asset:\(repo.fullName.lowercased())/\(tag)/\(name)"), name: name,
                                       label: item["label"]?.string ?? "",
                                       contentType: item["content_type"]?.string ?? Self.contentType(name), size: size,
                                       path: assetDir + "/" + fileName, createdAt: assetCreated,
                                       state: item["state"]?.string ?? "uploaded"))
        }
        return FixtureRelease(id: StableID.of("release:\(repo.fullName.lowercased())/\(tag)"), tag: tag, name: json["name"]?.string ?? tag,
                              body: json["body"]?.string, draft: draft, prerelease: json["prerelease"]?.bool ?? false,
                              targetCommitish: json["target_commitish"]?.string, createdAt: created,
                              publishedAt: draft ? nil : (json["published_at"]?.string.flatMap(WallClock.parse) ?? created), assets: assets)
    }

    /// The asset with `id` anywhere in the fixtures, with its repository and release.
    func asset(id: Int) -> (repo: FixtureRepo, release: FixtureRelease, asset: FixtureAsset)? {
        for owner in owners() {
            for repo in repos(owner: owner) {
                for release in releases(repo) {
                    if let asset = release.assets.first(where: { $0.id == id }) { return (repo, release, asset) }
                }
            }
        }
        return nil
    }

    // MARK: helpers

    private func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return fileManager.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private func isGitRepository(_ path: String) -> Bool {
        isDirectory(path) && (fileManager.fileExists(atPath: path + "/.git") || fileManager.fileExists(atPath: path + "/HEAD"))
    }

    /// Refs git would take as options or revision syntax are refused before git sees them.
    static func isSafeRef(_ ref: String) -> Bool {
        !ref.isEmpty && !ref.hasPrefix("-") && !ref.contains("..") && ref.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"~^:?*[\\@{".utf8.contains($0) }
    }

    static func contentType(_ name: String) -> String {
        if name.hasSuffix(".zip") { return "application/zip" }
        if name.hasSuffix(".tar.gz") || name.hasSuffix(".tgz") { return "application/gzip" }
        if name.hasSuffix(".deb") { return "application/vnd.debian.binary-package" }
        if name.hasSuffix(".json") { return "application/json" }
        if name.hasSuffix(".sig") || name.hasSuffix(".asc") { return "application/pgp-signature" }
        if name.hasSuffix("SHA256SUMS") || name.hasSuffix(".txt") { return "text/plain" }
        return "application/octet-stream"
    }
}

/// IDs that stay the same across restarts: FNV-1a of a name, kept below 2^40 so JSON numbers hold them.
enum StableID {
    static func of(_ text: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash & 0xFF_FFFF_FFFF) + 1
    }
}
