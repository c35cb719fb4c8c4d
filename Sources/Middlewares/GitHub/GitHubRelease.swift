import Pipeline

/// A GitHub release and its assets, as `GET /repos/{owner}/{repo}/releases` lists it.
public struct GitHubRelease: Sendable, Equatable {
    public var id: Int
    /// The tag the release belongs to (`tag_name`).
    public var tag: String
    public var name: String?
    public var draft: Bool
    public var prerelease: Bool
    /// RFC 3339 time of publication; nil for drafts.
    public var publishedAt: String?
    public var assets: [GitHubAsset]

    public init(id: Int, tag: String, name: String? = nil, draft: Bool = false, prerelease: Bool = false, publishedAt: String? = nil,
                assets: [GitHubAsset] = []) {
        self.id = id
        self.tag = tag
        self.name = name
        self.draft = draft
        self.prerelease = prerelease
        self.publishedAt = publishedAt
        self.assets = assets
    }

    init?(json: JSONValue) {
        guard let id = json["id"]?.int, let tag = json["tag_name"]?.string else { return nil }
        self.init(id: id, tag: tag, name: json["name"]?.string, draft: json["draft"]?.bool ?? false,
                  prerelease: json["prerelease"]?.bool ?? false, publishedAt: json["published_at"]?.string,
                  assets: json["assets"]?.array?.compactMap(GitHubAsset.init(json:)) ?? [])
    }

    /// The asset called `name`, if the release has one.
    public func asset(named name: String) -> GitHubAsset? { assets.first { $0.name == name } }
}

/// A file attached to a release. Download it with `GitHubSource.assetRequest(repo:asset:)`.
public struct GitHubAsset: Sendable, Equatable {
    public var id: Int
    /// The file name as GitHub stored it (GitHub rewrites some characters on upload).
    public var name: String
    public var size: Int
    public var contentType: String
    /// `sha256:<hex>` for assets uploaded since mid-2025; nil for older ones (apt.md §7).
    public var digest: String?

    public init(id: Int, name: String, size: Int, contentType: String = "application/octet-stream", digest: String? = nil) {
        self.id = id
        self.name = name
        self.size = size
        self.contentType = contentType
        self.digest = digest
    }

    init?(json: JSONValue) {
        guard let id = json["id"]?.int, let name = json["name"]?.string else { return nil }
        self.init(id: id, name: name, size: json["size"]?.int ?? 0,
                  contentType: json["content_type"]?.string ?? "application/octet-stream", digest: json["digest"]?.string)
    }
}
