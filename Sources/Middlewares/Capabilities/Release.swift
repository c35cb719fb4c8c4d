import Pipeline

/// A release of a repository in a release feed, and its assets.
public struct Release: Sendable, Equatable {
    public var id: Int
    /// The tag the release belongs to.
    public var tag: String
    public var name: String?
    public var draft: Bool
    public var prerelease: Bool
    /// RFC 3339 time of publication; nil for drafts.
    public var publishedAt: String?
    public var assets: [ReleaseAsset]

    public init(id: Int, tag: String, name: String? = nil, draft: Bool = false, prerelease: Bool = false, publishedAt: String? = nil,
                assets: [ReleaseAsset] = []) {
        self.id = id
        self.tag = tag
        self.name = name
        self.draft = draft
        self.prerelease = prerelease
        self.publishedAt = publishedAt
        self.assets = assets
    }

    /// The asset called `name`, if the release has one.
    public func asset(named name: String) -> ReleaseAsset? { assets.first { $0.name == name } }
}

/// A file attached to a release. Fetch it with `ReleaseFeed.assetRequest(repo:asset:)`.
public struct ReleaseAsset: Sendable, Equatable {
    /// Stable for the life of the asset: the same id is the same bytes.
    public var id: Int
    /// The file name as the feed stored it (GitHub rewrites some characters on upload).
    public var name: String
    public var size: Int
    public var contentType: String
    /// `sha256:<hex>` when the feed knows it (GitHub: assets uploaded since mid-2025; apt.md §7).
    public var digest: String?
    /// `uploaded` once complete (GitHub also reports `open` while an upload is in progress).
    public var state: String
    /// RFC 3339 time of the last change.
    public var updatedAt: String?

    public init(id: Int, name: String, size: Int, contentType: String = "application/octet-stream", digest: String? = nil,
                state: String = "uploaded", updatedAt: String? = nil) {
        self.id = id
        self.name = name
        self.size = size
        self.contentType = contentType
        self.digest = digest
        self.state = state
        self.updatedAt = updatedAt
    }
}
