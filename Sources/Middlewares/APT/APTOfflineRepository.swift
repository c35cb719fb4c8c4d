import Foundation
import Pipeline

/// What `gateway apt index` writes: the same signed repository `apt.repository` serves, built
/// offline from a folder of `.deb` files, for a project's `apt-metadata` branch or an
/// air-gapped copy. The caller writes the files; nothing here touches the output folder.
public enum APTOfflineRepository {
    /// The repository: every `dists/` file (by-hash names included) with its bytes, and each
    /// package's pool path with the file it comes from (relative to the folder).
    public struct Output: Sendable {
        public let files: [(path: String, bytes: [UInt8])]
        public let pool: [(path: String, source: String)]
        public let release: String
    }

    /// Reads the `.deb` files under `folder` (unreadable ones are logged and left out) and renders
    /// them signed by the key in `keyFile` (armored or binary secret key bytes).
    public static func build(folder: String, key keyBytes: [UInt8], suite: String = "stable", components: [String] = ["main"],
                             architectures: [String]? = nil, origin: String = "gateway", label: String = "gateway",
                             codename: String? = nil) async throws -> Output {
        let key = try OpenPGPSecretKey.read(keyBytes)
        guard APTRepository.isSafePath(suite), !components.isEmpty, components.allSatisfy(APTRepository.isSafeName) else {
            throw HTTPError(.badRequest, "suite and components must be plain names")
        }
        let root: DirectoryHandle
        do throws(SystemError) {
            root = try DirectoryHandle(path: folder)
        } catch {
            throw HTTPError(.notFound, "cannot open \(folder): \(error.reason)")
        }
        let source = FileTreePackages(tree: DirectorySource(root: root))
        let scan = try await source.scan(components: components)
        let packages = APTIndexState.deduplicate(scan.packages)
        var shape = APTRepositoryShape()
        shape.suite = suite
        shape.components = components
        shape.architectures = architectures
        shape.origin = origin
        shape.label = label
        shape.codename = codename
        let renderer = APTIndexRenderer(shape: shape, signer: OpenPGPSigner(key: key))
        let date = APTIndexState.releaseDate(scan, key: key)
        let index = try await BlockingPool.shared.run { try renderer.render(packages, date: date) }
        return Output(files: index.files.keys.sorted().map { ($0, index.files[$0]!.bytes) },
                      pool: index.pool.keys.sorted().map { ($0, index.pool[$0]!.location) }, release: index.release)
    }

    /// A new Ed25519 signing key for `userID` (`gateway apt keygen`): the secret key armored (keep
    /// it secret) and the public key armored and binary (for `Signed-By`).
    public static func generateKey(userID: String, created: Double) throws -> (secret: String, publicArmored: String, publicBinary: [UInt8], fingerprint: String) {
        let key = try OpenPGPSecretKey.generate(userID: userID, created: .init(timeIntervalSince1970: created))
        return (key.armored, key.certificate.armored, key.certificate.binary, key.certificate.fingerprint)
    }
}
