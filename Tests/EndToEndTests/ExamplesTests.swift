import Foundation
import Testing

/// The pipelines the README's quick starts use are complete files that `gateway check` accepts.
@Suite("examples/ and the README")
struct ExamplesTests {
    /// Folders under examples/ holding what a pipeline serves (JSON included), not pipelines.
    static let contentFolders = ["examples/registry/", "examples/site/"]

    /// Environment variables the examples ask the user for, with stand-in values.
    static func exampleEnvironment(keyFile: String) -> [String: String] {
        ["GITHUB_OWNER": "acme", "GITHUB_APP_ID": "123456", "GITHUB_INSTALLATION_ID": "7890123",
         "GITHUB_APP_KEY_FILE": keyFile, "GITHUB_WEBHOOK_SECRET": "0123456789abcdef", "RUNTIME_DIRECTORY": ""]
    }

    /// Every pipeline file: the default pipeline.json and every *.json under examples/ outside the content folders.
    static func pipelineFiles() -> [String] {
        let examples = Paths.root + "/examples"
        let found = (FileManager.default.enumerator(atPath: examples)?.allObjects as? [String] ?? [])
            .map { "examples/" + $0 }
            .filter { path in path.hasSuffix(".json") && !contentFolders.contains { path.hasPrefix($0) } }
        return ["pipeline.json"] + found.sorted()
    }

    @Test("every pipeline under examples/ (and pipeline.json) passes gateway check, as it sits beside the others")
    func everyExampleChecks() throws {
        let files = Self.pipelineFiles()
        // The walk finds the quick starts, so it cannot pass by finding nothing.
        for expected in ["pipeline.json", "examples/caching-proxy/pipeline.json", "examples/github/pipeline.json"] {
            #expect(files.contains(expected), "\(expected) not found among \(files)")
        }
        // A copy of the checkout's layout, with the dev certificate `make run` makes.
        let root = TemporaryDirectory()
        try FileManager.default.copyItem(atPath: Paths.root + "/examples", toPath: root.file("examples"))
        try FileManager.default.copyItem(atPath: Paths.root + "/pipeline.json", toPath: root.file("pipeline.json"))
        makeCertificate(in: root.file("certs"), names: ["localhost", "127.0.0.1", "::1"], out: "gateway")
        let key = Tool.run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", root.file("github-app.pem")])
        #expect(key.status == 0, "\(key.stderr)")
        for file in files {
            let result = Tool.run(Paths.gateway, ["check", file], environment: Self.exampleEnvironment(keyFile: root.file("github-app.pem")),
                                  directory: root.path)
            #expect(result.status == 0, "\(file):\n\(result.output)\(result.stderr)")
            #expect(result.output.contains("\(file): ok ("), "\(result.output)")
        }
    }

    @Test("every examples/ file and pipeline the README links to exists")
    func readmeLinks() throws {
        let readme = try String(contentsOfFile: Paths.root + "/README.md", encoding: .utf8)
        let links = readme.components(separatedBy: "](").dropFirst().compactMap { $0.split(separator: ")").first.map(String.init) }
            .filter { $0.hasPrefix("examples/") || $0 == "pipeline.json" }
        for expected in ["pipeline.json", "examples/caching-proxy/pipeline.json", "examples/github/pipeline.json", "examples/terraform/main.tf"] {
            #expect(links.contains(expected), "README.md does not link \(expected)")
        }
        for link in links { #expect(FileManager.default.fileExists(atPath: Paths.root + "/" + link), "README.md links a missing \(link)") }
    }
}
