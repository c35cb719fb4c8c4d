import Pipeline

/// A capability: an owner's repositories with their tags, releases and files, each release asset
/// and each repository archive fetched as an upstream request that `upstream` (and a `cache`
/// before it) handles (the `github` source). Answers may be cached by the source; `generation`
/// changes when any of them changed or was invalidated (a webhook), so a behaviour that derives
/// something from the feed knows when to derive it again.
///
/// Behaviours read it through views of their own: the Terraform registry maps repositories named
/// `terraform-<system>-<name>` to modules and `terraform-provider-<type>` releases to providers
/// (Terraform/ReleaseFeedRegistry.swift).
public protocol ReleaseFeed: Source {
    /// The account whose repositories these are (the default namespace of names derived from them).
    var owner: String { get }

    /// Changes whenever an answer changed or was invalidated.
    var generation: UInt64 { get }

    /// The owner's repositories the source can see.
    func repositories() async throws -> [Repository]

    /// The repository's tags, newest first; empty for an unknown repository.
    func tags(repo: String) async throws -> [GitTag]

    /// The repository's releases (drafts included when the source may see them), newest first;
    /// empty for an unknown repository.
    func releases(repo: String) async throws -> [Release]

    /// The published release of `tag`, or nil.
    func release(repo: String, tag: String) async throws -> Release?

    /// The bytes of the file at `path` in `ref` (the default branch when nil), within the source's
    /// size limit; nil when the repository, ref or file does not exist.
    func file(repo: String, path: String, ref: String?) async throws -> [UInt8]?

    /// The files and folders in the folder `path` of `ref` (the default branch when nil), one level;
    /// nil when it is not a folder there.
    func folder(repo: String, path: String, ref: String?) async throws -> [RepositoryEntry]?

    /// An upstream request for the gzipped tarball of `ref` (a tag, branch or commit), whose single
    /// top directory holds the repository. Its cache key names the commit when `ref` is a tag or
    /// a commit, so it is immutable then. Send it down the chain: `upstream` fetches it, through
    /// the request's own `fetch` when the feed has one (GitHub's API call under its rate limit).
    func archiveRequest(repo: String, ref: String) async throws -> Request

    /// An upstream request for an asset's bytes, with an immutable cache key (assets are
    /// immutable by id), fetched like `archiveRequest`'s. A behaviour may add `Range` to read
    /// part of it.
    func assetRequest(repo: String, asset: ReleaseAsset) async throws -> Request

    /// A page people can browse for the repository, when the feed has one.
    func webURL(repo: String) -> String?
}
