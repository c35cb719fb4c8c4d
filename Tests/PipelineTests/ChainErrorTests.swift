import Testing
@testable import Pipeline

@Suite("chain: thrown errors become answers")
struct ChainErrorTests {
    func answer(_ error: any Error) async -> Response {
        let chain = Chain([ClosureMiddleware { _, _ in throw error }])
        return await chain.handle(Request(method: .get, path: "/x"), context: Context(requestID: "r1"))
    }

    @Test("a failed upstream fetch is a 502, a timed-out one a 504, anything unknown a 500 naming only the request id")
    func mapping() async throws {
        #expect(await answer(ClientError.connect(host: "internal.example", reason: "refused")).status == .badGateway)
        #expect(await answer(ClientError.timeout(phase: "first byte")).status == .gatewayTimeout)
        #expect(await answer(HTTPError(.notFound, "no")).status == .notFound)
        struct Odd: Error {}
        let odd = await answer(Odd())
        #expect(odd.status == .internalServerError)
        let body = try await odd.body.collect(upTo: 1024)
        #expect(String(decoding: body, as: UTF8.self) == "internal error (request r1)\n")
        let upstream = try await answer(ClientError.connect(host: "internal.example", reason: "refused")).body.collect(upTo: 1024)
        #expect(!String(decoding: upstream, as: UTF8.self).contains("internal.example"))
    }
}
