import Pipeline

// GitHub's REST shapes (API version 2022-11-28) read into the release feed's values.

extension Repository {
    /// A repository object of `GET /orgs/{org}/repos`, `/users/{user}/repos` or
    /// `/installation/repositories`; nil when required fields are missing.
    init?(githubJSON json: JSONValue) {
        guard let name = json["name"]?.string else { return nil }
        self.init(name: name, fullName: json["full_name"]?.string ?? name, isPrivate: json["private"]?.bool ?? false,
                  topics: json["topics"]?.array?.compactMap(\.string) ?? [], defaultBranch: json["default_branch"]?.string ?? "main",
                  archived: json["archived"]?.bool ?? false, description: json["description"]?.string)
    }
}

extension GitTag {
    /// An item of `GET /repos/{owner}/{repo}/tags`.
    init?(githubJSON json: JSONValue) {
        guard let name = json["name"]?.string, let sha = json["commit"]?["sha"]?.string else { return nil }
        self.init(name: name, sha: sha)
    }
}

extension Release {
    /// An item of `GET /repos/{owner}/{repo}/releases`. Assets still being uploaded (`state: open`)
    /// are left out: their bytes are not there yet. They appear once GitHub lists them `uploaded`.
    init?(githubJSON json: JSONValue) {
        guard let id = json["id"]?.int, let tag = json["tag_name"]?.string else { return nil }
        let assets = json["assets"]?.array?.compactMap(ReleaseAsset.init(githubJSON:)) ?? []
        self.init(id: id, tag: tag, name: json["name"]?.string, draft: json["draft"]?.bool ?? false,
                  prerelease: json["prerelease"]?.bool ?? false, publishedAt: json["published_at"]?.string,
                  assets: assets.filter { $0.state == "uploaded" })
    }
}

extension ReleaseAsset {
    /// An item of a release's `assets`.
    init?(githubJSON json: JSONValue) {
        guard let id = json["id"]?.int, let name = json["name"]?.string else { return nil }
        self.init(id: id, name: name, size: json["size"]?.int ?? 0, contentType: json["content_type"]?.string ?? "application/octet-stream",
                  digest: json["digest"]?.string, state: json["state"]?.string ?? "uploaded", updatedAt: json["updated_at"]?.string)
    }
}

extension RepositoryEntry {
    /// An item of `GET /repos/{owner}/{repo}/contents/{path}` on a folder.
    init?(githubJSON json: JSONValue) {
        guard let name = json["name"]?.string, let path = json["path"]?.string else { return nil }
        let kind: Kind = switch json["type"]?.string {
        case "file": .file
        case "dir": .folder
        default: .other
        }
        self.init(name: name, path: path, kind: kind, size: json["size"]?.int ?? 0, sha: json["sha"]?.string ?? "")
    }
}
