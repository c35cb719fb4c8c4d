import Dispatch
import Foundation
import Pipeline

// github-standin --fixtures DIR [--host 127.0.0.1] [--base-port 0] [--api-prefix /api/v3] [--tls CERTDIR]
//
// A stand-in for the parts of GitHub the gateway uses (REST API, codeload, release storage,
// Actions OIDC issuer), served from a folder of real git repositories. Four listeners: api,
// codeload, objects, oidc; each logs a JSON `listening` line with its port (use --base-port 0 for
// ports the kernel picks), then `started` with the URLs.

var values: [String: String] = [:]
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    guard flag.hasPrefix("--"), !arguments.isEmpty else {
        Log.writeLine("usage: github-standin --fixtures DIR [--host H] [--base-port N] [--api-prefix P] [--tls CERTDIR]\n", to: 2)
        exit(2)
    }
    values[String(flag.dropFirst(2))] = arguments.removeFirst()
}
guard let fixturesPath = values["fixtures"] else {
    Log.writeLine("github-standin: --fixtures DIR is required\n", to: 2)
    exit(2)
}
let host = values["host"] ?? "127.0.0.1"
let basePort = Int(values["base-port"] ?? "0") ?? 0
let prefix = values["api-prefix"] ?? ""

do {
    let root = URL(fileURLWithPath: fixturesPath).standardizedFileURL.path
    let config = try StandInConfig.load(root: root)
    let state = try StandInState(config: config, fixtures: FixtureStore(root: root))
    var tls: TLSServerContext?
    if let certificates = values["tls"] {
        let files = try DevCertificates.create(in: certificates, names: [host, "localhost", "127.0.0.1"], basename: "standin")
        tls = try TLSServerContext(certificates: [(files.certificate, files.key)], protocols: ["http/1.1"])
    }
    let names = ["api", "codeload", "objects", "oidc"]
    var listeners: [ListenerConfig] = []
    for (index, name) in names.enumerated() {
        let port = basePort == 0 ? try PortProbe.freePort(host: host) : basePort + index
        guard let addresses = SocketAddress.listenAddresses("\(host):\(port)") else { throw StandInError("cannot listen on \(host):\(port)") }
        listeners.append(ListenerConfig(name: name, addresses: addresses, tls: tls))
    }
    let control = ControlHandler(state: state)
    let stacks = [
        CompiledStack(name: "api", matches: [], chain: Chain([control, APIGate(state: state), Faults(state: state, listener: "api"),
                                                                       APIHandler(state: state, prefix: prefix)]),
                      listeners: ["api"]),
        CompiledStack(name: "codeload", matches: [], chain: Chain([control, Faults(state: state, listener: "codeload"), CodeloadHandler(state: state)]),
                      listeners: ["codeload"]),
        CompiledStack(name: "objects", matches: [], chain: Chain([control, Faults(state: state, listener: "objects"), ObjectsHandler(state: state)]),
                      listeners: ["objects"]),
        CompiledStack(name: "oidc", matches: [], chain: Chain([control, OIDCIssuer(state: state)]), listeners: ["oidc"]),
    ]
    let server = try Server(pipeline: LoadedPipeline(listeners: listeners, stacks: stacks, workers: 2))
    try server.start()
    let scheme = tls == nil ? "http" : "https"
    let urlHost = host.contains(":") ? "[\(host)]" : host
    var urls = StandInState.URLs()
    let ports = server.boundPorts
    func url(_ name: String) -> String { "\(scheme)://\(urlHost):\(ports[name]?.first ?? 0)" }
    urls.api = url("api")
    urls.codeload = url("codeload")
    urls.objects = url("objects")
    urls.oidc = url("oidc")
    state.setURLs(urls)
    Log.info("started", [("api", urls.api + prefix), ("control", urls.api + "/_standin"), ("codeload", urls.codeload), ("objects", urls.objects), ("oidc", urls.oidc),
                         ("fixtures", root)])
    withExtendedLifetime(server) {
        for number in [SIGTERM, SIGINT] { signal(number, SIG_IGN) }
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
            source.setEventHandler { exit(0) }
            source.resume()
            return source
        }
        withExtendedLifetime(sources) { dispatchMain() }
    }
} catch {
    Log.writeLine("github-standin: \(error)\n", to: 2)
    exit(1)
}
