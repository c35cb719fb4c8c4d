import Dispatch
import Pipeline
import Middlewares
#if canImport(Glibc)
import Glibc
#endif

/// `gateway oci push DIR --repository REGISTRY/REPOSITORY`: publishes a provider release folder
/// into an OCI registry in OpenTofu's layout, with the signed SHA256SUMS beside it (docs/oci.md).
enum OCICommand {
    static let spec = CommandSpec(
        "oci", arguments: "push DIR", positional: 2,
        summary: """
            push: publishes the provider release in DIR (goreleaser layout: terraform-provider-TYPE_VERSION_OS_ARCH.zip,
            _SHA256SUMS, _SHA256SUMS.sig, _manifest.json) to REGISTRY/REPOSITORY in OpenTofu's layout: a manifest per
            platform with its zip, the signed sums in one more manifest, and an index tagged VERSION (+ written _).
            Every zip is checked against SHA256SUMS, and with --key the signature against the key, before anything
            is sent. Blobs the registry has already are not uploaded again.
            """,
        options: [
            .init(name: "repository", value: "REGISTRY/REPOSITORY",
                  help: "e.g. 127.0.0.1:5000/terraform-providers/example.com/acme/hello", required: true),
            .init(name: "plain-http", value: nil, help: "talk to the registry over http (no TLS)"),
            .init(name: "key", value: "PUBLIC.asc", help: "an OpenPGP public key the SHA256SUMS signature must verify against", repeatable: true),
            .init(name: "username", value: "NAME", help: "registry user (Basic, or at the registry's token service)"),
            .init(name: "password-file", value: "FILE", help: "a file holding the password or token (with --username)"),
            .init(name: "ca-file", value: "FILE", help: "extra CA certificates (PEM) for the registry"),
        ])

    static func run(_ arguments: [String]) -> Int32 {
        let parsed = CLI.parse(arguments, spec)
        guard parsed.positional.first == "push" else { CLI.usageError("expected `gateway oci push DIR --repository REGISTRY/REPOSITORY`") }
        guard parsed.positional.count == 2 else { CLI.usageError("push needs the release folder DIR") }
        guard let target = parsed.values["repository"]?.last else { CLI.usageError("--repository REGISTRY/REPOSITORY is required") }
        guard let slash = target.firstIndex(of: "/"), slash != target.startIndex else {
            CLI.usageError("--repository must be REGISTRY/REPOSITORY, e.g. 127.0.0.1:5000/terraform-providers/example.com/acme/hello")
        }
        let host = String(target[..<slash]), repository = String(target[target.index(after: slash)...])
        let url = (parsed.switches.contains("plain-http") ? "http://" : "https://") + host
        let username = parsed.values["username"]?.last
        var password: Secret?
        if let file = parsed.values["password-file"]?.last {
            guard case .success(var bytes) = SmallFile.read(file, limit: 1 << 20) else { CLI.fail("cannot read \(file)") }
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
            password = Secret(String(decoding: bytes, as: UTF8.self))
        }
        if (username == nil) != (password == nil) { CLI.usageError("--username and --password-file go together") }

        let release: ProviderReleaseFolder
        do {
            release = try ProviderReleaseFolder.load(parsed.positional[1])
            var keys: [[UInt8]] = []
            for path in parsed.values["key"] ?? [] {
                guard case .success(let bytes) = SmallFile.read(path, limit: 1 << 20) else { CLI.fail("cannot read \(path)") }
                keys.append(bytes)
            }
            if !keys.isEmpty {
                let fingerprint = try release.verifySignature(keys: keys)
                print("\(release.shasums.name): good signature by \(fingerprint)")
            } else if release.signature == nil {
                print("warning: no \(release.shasums.name).sig: terraform.registry cannot serve this release over providers.v1")
            }
        } catch {
            CLI.fail("\(error)")
        }
        let caFile = parsed.values["ca-file"]?.last.map(CLI.absolute)
        let secret = password
        let outcome = wait {
            let pusher = try OCIPusher(url: url, username: username, password: secret, caFile: caFile)
            return try await pusher.push(repository: repository, version: release.version, packages: release.packages,
                                         files: release.signedFiles)
        }
        switch outcome {
        case .success(let report):
            print("pushed \(release.type) \(release.version) (\(release.packages.map { "\($0.os)_\($0.arch)" }.joined(separator: ", "))) "
                  + "to \(target):\(String(release.version.map { $0 == "+" ? "_" : $0 })) \(report.digest): "
                  + "\(report.uploadedBlobs) blobs uploaded, \(report.existingBlobs) already there")
            return 0
        case .failure(let error):
            CLI.fail("push failed: \(error)")
        }
    }

    /// Runs `work` to its end on the tasks' threads while this one waits.
    static func wait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do { box.result = .success(try await work()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return box.result!
    }
}

/// Hands a result from the task that made it to the thread waiting for it.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
