import Pipeline

/// The capability of a source that holds an OCI store: repositories named by a template, their
/// tags, manifests and indexes by tag or digest, and blobs as upstream requests (oci.md §2). What
/// it holds, not which product reads it; `oci.mirror` reads Terraform providers from it.
public protocol OCIStore: Sendable {
    /// The repository the store's template names for `variables` (`hostname`, `namespace`,
    /// `type`, …); nil when it makes no valid repository name.
    func repository(_ variables: [String: String]) -> String?
    /// The repository's tags (unsorted, as the registry gives them, every page); nil when the
    /// repository does not exist.
    func tags(repository: String) async throws -> [String]?
    /// The manifest or index `reference` (a tag or a digest) names; nil when there is none.
    func manifest(repository: String, reference: String) async throws -> OCIManifest?
    /// An upstream request for the blob `digest` (`sha256:<hex>`): immutable, cached by its digest.
    func blobRequest(repository: String, digest: String) throws -> Request
    /// The bytes of a small blob (up to `limit`), verified against `digest` and kept; nil when there is none.
    func blob(repository: String, digest: String, limit: Int) async throws -> [UInt8]?
}

/// A manifest or index as fetched: its bytes verified against its digest.
public struct OCIManifest: Sendable {
    public let mediaType: String
    /// `sha256:<hex>` of `bytes`.
    public let digest: String
    public let bytes: [UInt8]
    public let json: JSONValue

    /// `artifactType`, or the config's media type when there is none (image-spec `manifest.md`).
    public var artifactType: String? { json["artifactType"]?.string ?? json["config"]?["mediaType"]?.string }
}

/// A descriptor inside a manifest or index.
public struct OCIDescriptor: Sendable {
    public let mediaType: String
    public let digest: String
    public let size: Int
    public let artifactType: String?
    public let platform: JSONValue?
    public let annotations: [String: String]

    public init?(_ json: JSONValue) {
        guard let mediaType = json["mediaType"]?.string, let digest = json["digest"]?.string, let size = json["size"]?.int, size >= 0 else {
            return nil
        }
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        artifactType = json["artifactType"]?.string
        platform = json["platform"]
        var annotations: [String: String] = [:]
        for (key, value) in json["annotations"]?.object ?? JSONObject() { annotations[key] = value.string }
        self.annotations = annotations
    }

    /// Whether `digest` is a well-formed sha256 digest (the only algorithm read).
    public var isSHA256: Bool { OCIDigest.hex(of: digest) != nil }
}

enum OCIMediaType {
    static let index = "application/vnd.oci.image.index.v1+json"
    static let manifest = "application/vnd.oci.image.manifest.v1+json"
    static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Sent on every manifest request: distribution 2.8 answers 404 for an OCI index or manifest
    /// when Accept does not name its type (oci.md §2.2).
    static let accept = [index, manifest, dockerList, dockerManifest].joined(separator: ", ")
}

enum OCIDigest {
    /// The lower-case hex of a `sha256:<64 hex>` digest; nil for anything else.
    static func hex(of digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = digest.dropFirst(7)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return String(hex)
    }

    static func of(_ bytes: [UInt8]) -> String { "sha256:" + Hex.encode(Digest.sha256(bytes)) }
}

/// OCI names (distribution-spec: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/…)*`) and tags.
enum OCIName {
    static func isValidRepository(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(isValidComponent)
    }

    static func isValidComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else { return false }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if isAlphanumeric(byte) { index += 1; continue }
            // A separator: ".", "_", "__" or a run of "-", between alphanumerics.
            if byte == UInt8(ascii: "-") {
                while index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            } else if byte == UInt8(ascii: "_") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "_") { index += 1 }
            } else if byte == UInt8(ascii: ".") {
                index += 1
            } else {
                return false
            }
            guard index < bytes.count, isAlphanumeric(bytes[index]) else { return false }
        }
        return true
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool { (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        func word(_ byte: UInt8) -> Bool {
            (byte >= 97 && byte <= 122) || (byte >= 65 && byte <= 90) || (byte >= 48 && byte <= 57) || byte == UInt8(ascii: "_")
        }
        return word(first) && bytes.allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}
