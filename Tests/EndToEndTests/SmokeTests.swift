import Foundation
import Testing

@Suite("gateway binary smoke")
struct SmokeTests {
    @Test("serves a file over plain HTTP and logs it")
    func servesFile() throws {
        let dir = TemporaryDirectory()
        dir.write("www/hello.txt", "hello\n")
        let gateway = try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "web", "listen": "127.0.0.1:0"}],
             "stacks": {"site": {"chain": [{"type": "log"}, {"type": "files", "root": "www"}]}}}
            """, directory: dir)
        let result = Tool.curl(["-i", gateway.url("web", "/hello.txt")])
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("HTTP/1.1 200 OK"))
        #expect(result.output.hasSuffix("hello\n"))
        #expect(gateway.waitForLogLine { $0.contains("\"path\":\"/hello.txt\"") })
    }
}

@Suite("listeners on port 0")
struct PortZeroTests {
    @Test("two listeners may both ask for a port on one address; each keeps its own stacks")
    func twoPortZeroListeners() throws {
        let dir = TemporaryDirectory()
        dir.write("a/x.txt", "from a\n")
        dir.write("b/x.txt", "from b\n")
        let gateway = try GatewayProcess(config: """
            {"version": 1, "listeners": [{"name": "a", "listen": "127.0.0.1:0"}, {"name": "b", "listen": "127.0.0.1:0"}],
             "stacks": {"a": {"listeners": ["a"], "chain": [{"type": "files", "root": "a"}]},
                        "b": {"listeners": ["b"], "chain": [{"type": "files", "root": "b"}]}}}
            """, directory: dir)
        #expect(gateway.port("a") != 0 && gateway.port("b") != 0 && gateway.port("a") != gateway.port("b"))
        #expect(Tool.curl([gateway.url("a", "/x.txt")]).output == "from a\n")
        #expect(Tool.curl([gateway.url("b", "/x.txt")]).output == "from b\n")
        // A reload keeps both sockets (and their ports).
        let before = (gateway.port("a"), gateway.port("b"))
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("\"msg\":\"reloaded\""))
        #expect(Tool.curl([gateway.url("a", "/x.txt")]).output == "from a\n")
        #expect(Tool.curl(["http://127.0.0.1:\(before.1)/x.txt"]).output == "from b\n")
    }
}

extension GatewayProcess {
    /// Waits until an access-log line satisfies `predicate`.
    func waitForLogLine(timeout: TimeInterval = 10, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.split(separator: "\n").contains(where: { predicate(String($0)) }) { return true }
            usleep(20_000)
        }
        return false
    }
}
