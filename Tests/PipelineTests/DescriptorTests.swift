import Foundation
import Testing
import HTTP2TestClient
@testable import Pipeline

/// A descriptor is closed once. A second close(2) in a threaded process closes whatever descriptor
/// has reused the number by then (another connection, a cache file), which is how a test run hung.
@Suite("descriptors are closed once")
struct DescriptorTests {
    static let config = ListenerConfig(name: "test", addresses: [SocketAddress(ip: "127.0.0.1", port: 0)!])

    @Test("a listener socket closed twice leaves the descriptor that reused its number alone")
    func listenerClosesOnce() throws {
        // open(2) returns the lowest free number, normally the one just closed; another test's
        // thread may take it first, so try a few times.
        for _ in 0..<20 {
            let socket = try ListenerSocket(address: Self.config.addresses[0], config: Self.config)
            let number = socket.fd
            socket.close()
            let reused = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard reused == number else {
                close(reused)
                continue
            }
            socket.close()
            let stillOpen = fcntl(reused, F_GETFD) != -1
            #expect(stillOpen, "the second close() closed the descriptor that had reused the number")
            if stillOpen { close(reused) }
            return
        }
        Issue.record("the listener's descriptor number was never handed out again")
    }

    @Test("a reload once draining has begun is refused, and the drained listener stays closed")
    func reloadWhileDrainingIsRefused() async throws {
        let server = try InProcessServer { _, _ in Response(status: .ok) }
        let pipeline = server.server.pipeline
        await server.stop()
        await #expect(throws: ServerDraining.self) { try await server.server.reload(pipeline) }
        #expect(server.server.boundPorts.isEmpty)
        let connected = Loopback.connect(port: server.port)
        #expect(connected == nil, "nothing listens on the drained port")
        if let connected { close(connected) }
    }
}
