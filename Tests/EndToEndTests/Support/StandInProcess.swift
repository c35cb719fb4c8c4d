import Foundation
import Pipeline
import Testing

/// The real `github-standin` binary serving a `GitHubFixtures` folder on loopback ports the
/// kernel picks (read from its `started` log line), with helpers for its control endpoints:
/// counters, knobs, webhook deliveries and OIDC tokens.
final class StandInProcess: @unchecked Sendable {
    let fixtures: GitHubFixtures
    private(set) var process: Subprocess!
    private(set) var api = ""
    private(set) var codeload = ""
    private(set) var objects = ""
    private(set) var oidc = ""
    /// The client for control calls (trusting the stand-in's CA when it runs with `--tls`).
    private(set) var client = HTTPClient.shared
    /// The CA certificate clients must trust when the stand-in runs with `--tls DIR`.
    let caFile: String?
    /// `<api origin>/_standin`, the control endpoints.
    private(set) var control = ""

    /// Writes the fixtures' `standin.json` and starts the stand-in (`arguments` e.g. `["--tls", dir]`).
    init(fixtures: GitHubFixtures, arguments: [String] = []) throws {
        self.fixtures = fixtures
        var configuration = HTTPClient.Configuration()
        if let index = arguments.firstIndex(of: "--tls"), index + 1 < arguments.count {
            configuration.caFile = arguments[index + 1] + "/ca.pem"
        }
        caFile = configuration.caFile
        fixtures.writeConfig()
        process = try Subprocess(Paths.product("github-standin"), ["--fixtures", fixtures.root] + arguments, stdout: .discard)
        let deadline = Date().addingTimeInterval(30)
        var started: [String: Any]?
        while Date() < deadline, process.isRunning, started == nil {
            for line in log.split(separator: "\n") where line.contains("\"msg\":\"started\"") {
                started = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            }
            if started == nil { usleep(20_000) }
        }
        guard let started, let api = started["api"] as? String else {
            if process.isRunning { process.terminate() }
            throw StandInFailedToStart(log: log)
        }
        self.api = api
        codeload = started["codeload"] as? String ?? ""
        objects = started["objects"] as? String ?? ""
        oidc = started["oidc"] as? String ?? ""
        control = started["control"] as? String ?? ""
        // The CA exists once the stand-in has started.
        if caFile != nil { client = try HTTPClient(configuration) }
    }

    deinit { stop() }

    /// What the stand-in wrote to stderr.
    var log: String { String(decoding: process.output.err, as: UTF8.self) }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    // MARK: control

    /// Requests served so far, by kind (`api`, `api.tags`, `api.tags.304`, `api.tokens`, `objects.served`, ...).
    func counters() async throws -> [String: Int] {
        let json = try await call("GET", "/counters")
        var result: [String: Int] = [:]
        for (key, value) in json.object ?? JSONObject() { result[key] = value.int ?? 0 }
        return result
    }

    func counter(_ name: String) async throws -> Int { try await counters()[name] ?? 0 }

    func resetCounters() async throws { _ = try await call("POST", "/counters/reset") }

    /// Sets knobs, e.g. `["rateLimit": ["exhausted": true, "resetInSeconds": 60]]`.
    func knobs(_ knobs: JSONValue) async throws { _ = try await call("POST", "/knobs", body: knobs) }

    /// Has the stand-in deliver a signed webhook to `url`; returns the receiver's status and body.
    func deliver(to url: String, secret: String, event: String, repository: String, extra: JSONObject = JSONObject()) async throws
        -> (status: Int, body: String) {
        var object = JSONObject([("url", .string(url)), ("secret", .string(secret)), ("event", .string(event)),
                                 ("repository", .string(repository))])
        for (key, value) in extra { object[key] = value }
        let json = try await call("POST", "/events", body: .object(object))
        return (json["status"]?.int ?? 0, json["body"]?.string ?? "")
    }

    /// An OIDC ID token from the stand-in's issuer with `claims` over GitHub's defaults.
    func oidcToken(claims: JSONObject = JSONObject(), lifetimeSeconds: Int = 300, unknownKey: Bool = false) async throws -> String {
        let json = try await call("POST", "/oidc/token", body: .object(JSONObject([
            ("claims", .object(claims)), ("lifetimeSeconds", .number(Double(lifetimeSeconds))), ("unknownKey", .bool(unknownKey)),
        ])))
        return json["value"]?.string ?? ""
    }

    private func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        let bytes = body.map { Array($0.serialized().utf8) } ?? []
        guard let request = Request(url: control + path, method: HTTPMethod(rawValue: method), headers: ["Content-Type": "application/json"],
                                    body: IncomingBody(bytes: bytes)) else { throw StandInFailedToStart(log: "bad URL \(control)\(path)") }
        let response = try await client.execute(request, followRedirects: false)
        let answer = try await response.body.collect(upTo: 4 << 20)
        guard response.status.code == 200 else {
            throw StandInFailedToStart(log: "\(method) \(path): \(response.status.code) \(String(decoding: answer, as: UTF8.self))")
        }
        return try JSONParser.parse(answer)
    }
}

struct StandInFailedToStart: Error, CustomStringConvertible {
    let log: String
    var description: String { "github-standin: \(log)" }
}
