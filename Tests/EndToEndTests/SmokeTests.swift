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
