import Dispatch
import Foundation
import Middlewares
import Pipeline

/// `gateway apt keygen` and `gateway apt index`: the APT repository's offline tools (docs/apt.md).
enum APTCommand {
    static let keygen = CommandSpec(
        "apt keygen",
        summary: """
            Writes a new Ed25519 OpenPGP signing key for apt.repository: BASE.asc (the secret key, unprotected,
            mode 0600: the signingKeyFile) and its public half BASE.pub.asc and BASE.pub.gpg (for Signed-By).
            """,
        options: [
            .init(name: "out", value: "BASE", help: "file names without extension (required)", required: true),
            .init(name: "name", value: "UID", help: "the key's user ID (default \"APT repository <apt@localhost>\")"),
            .init(name: "force", value: nil, help: "replace existing files"),
        ])

    static let index = CommandSpec(
        "apt index", arguments: "[FOLDER]", positional: 1,
        summary: """
            Reads the .deb files under FOLDER and writes the signed repository apt.repository would serve into DIR:
            dists/ (Release, InRelease, Release.gpg, Packages, by-hash) and pool/ (copies of the packages). What a
            project's CI commits to its apt-metadata branch, or an air-gapped site serves as plain files.
            With --config and --source, the folder of a directory source of that pipeline.json.
            """,
        options: [
            .init(name: "out", value: "DIR", help: "the output folder (required)", required: true),
            .init(name: "key", value: "FILE", help: "the signing key, as apt.repository's signingKeyFile (required)", required: true),
            .init(name: "no-pool", value: nil, help: "write dists/ only (the packages are served from elsewhere)"),
            .init(name: "config", value: "FILE", help: "a pipeline.json whose --source is read instead of FOLDER"),
            .init(name: "source", value: "NAME", help: "a directory source of --config"),
            .init(name: "suite", value: "NAME", help: "the suite (default stable)"),
            .init(name: "component", value: "NAME", help: "a component (default main); a .deb in a folder of that name belongs to it",
                  repeatable: true),
            .init(name: "origin", value: "TEXT", help: "Release Origin (default gateway)"),
            .init(name: "label", value: "TEXT", help: "Release Label (default gateway)"),
        ])

    static func run(_ arguments: [String]) -> Int32 {
        switch arguments.first {
        case "keygen": return runKeygen(Array(arguments.dropFirst()))
        case "index": return runIndex(Array(arguments.dropFirst()))
        default: CLI.usageError("apt needs a subcommand: keygen or index (gateway help apt keygen)")
        }
    }

    static func runKeygen(_ arguments: [String]) -> Int32 {
        let parsed = CLI.parse(arguments, keygen)
        guard let base = parsed.values["out"]?.last, !base.isEmpty else { CLI.usageError("apt keygen needs --out BASE") }
        let files = [base + ".asc", base + ".pub.asc", base + ".pub.gpg"]
        if !parsed.switches.contains("force"), let existing = files.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            CLI.fail("\(existing) exists; nothing written (--force replaces it)")
        }
        do {
            let key = try APTOfflineRepository.generateKey(userID: parsed.values["name"]?.last ?? "APT repository <apt@localhost>",
                                                          created: Date().timeIntervalSince1970.rounded(.down))
            try write(files[0], Data(key.secret.utf8), mode: 0o600)
            try write(files[1], Data(key.publicArmored.utf8), mode: 0o644)
            try write(files[2], Data(key.publicBinary), mode: 0o644)
            print("""
                secret key:  \(files[0])   (signingKeyFile; keep it secret)
                public key:  \(files[1]), \(files[2])   (clients' Signed-By; also served at <prefix>key.asc and key.gpg)
                fingerprint: \(key.fingerprint)
                """)
            return 0
        } catch {
            CLI.fail("cannot write the key: \(error)")
        }
    }

    static func runIndex(_ arguments: [String]) -> Int32 {
        let parsed = CLI.parse(arguments, index)
        let folder: String
        if let config = parsed.values["config"]?.last {
            guard parsed.positional.isEmpty, let source = parsed.values["source"]?.last else {
                CLI.usageError("apt index takes FOLDER, or --config FILE with --source NAME")
            }
            folder = sourceFolder(config: config, source: source)
        } else {
            guard let given = parsed.positional.first, parsed.values["source"] == nil else {
                CLI.usageError("apt index needs the FOLDER of .deb files (or --config FILE --source NAME)")
            }
            folder = given
        }
        guard let out = parsed.values["out"]?.last, let keyFile = parsed.values["key"]?.last else {
            CLI.usageError("apt index needs --out DIR and --key FILE")
        }
        guard let key = FileManager.default.contents(atPath: keyFile) else { CLI.fail("cannot read \(keyFile)") }
        let components = parsed.values["component"] ?? ["main"]
        let suite = parsed.values["suite"]?.last ?? "stable"
        let origin = parsed.values["origin"]?.last ?? "gateway", label = parsed.values["label"]?.last ?? "gateway"
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<APTOfflineRepository.Output, any Error> = .failure(CancellationError())
        Task {
            do {
                result = .success(try await APTOfflineRepository.build(folder: folder, key: Array(key), suite: suite, components: components,
                                                                       origin: origin, label: label))
            } catch {
                result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        do {
            let output = try result.get()
            // dists/ is replaced whole, so files of an earlier run that are no longer listed go.
            try? FileManager.default.removeItem(atPath: out + "/dists")
            for (path, bytes) in output.files { try write(out + "/" + path, Data(bytes), mode: 0o644) }
            if !parsed.switches.contains("no-pool") {
                for (path, source) in output.pool {
                    let target = out + "/" + path
                    try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try? FileManager.default.removeItem(atPath: target)
                    try FileManager.default.copyItem(atPath: folder + "/" + source, toPath: target)
                }
            }
            print("wrote \(out)/dists/\(suite)/ (\(output.pool.count) packages)" + (parsed.switches.contains("no-pool") ? "" : " and \(out)/pool/"))
            return 0
        } catch {
            CLI.fail("apt index: \(error)")
        }
    }

    /// The folder of the `directory` source `source` in the pipeline.json `config` (relative to the
    /// file's folder). A github source has no folder to index offline.
    static func sourceFolder(config: String, source: String) -> String {
        guard let data = FileManager.default.contents(atPath: config),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { CLI.fail("cannot read \(config) as JSON") }
        guard let entry = (json["sources"] as? [String: Any])?[source] as? [String: Any] else { CLI.fail("\(config) has no source \"\(source)\"") }
        guard entry["type"] as? String == "directory", let path = entry["path"] as? String else {
            CLI.fail("source \"\(source)\" is a \(entry["type"] as? String ?? "?") source; only a directory source is read offline (for github: run apt.repository)")
        }
        if path.hasPrefix("/") { return path }
        return (CLI.absolute(config) as NSString).deletingLastPathComponent + "/" + path
    }

    /// Writes `data` to `path` with `mode` from the start (the secret key is never readable by
    /// others), creating its folder; a bare file name is written in the working directory.
    static func write(_ path: String, _ data: Data, mode: UInt32) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                let posix = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { Int32($0.code) }
                throw SystemError(call: "mkdir \(folder)", code: posix ?? ENOTDIR)
            }
        }
        try FileSystem.writeFile(path, [UInt8](data), mode: mode)
    }
}
