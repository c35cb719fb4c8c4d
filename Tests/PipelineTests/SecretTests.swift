import Testing
@testable import Pipeline

@Suite("Secret")
struct SecretTests {
    struct Holder {
        let name = "upstream"
        let authorization = Secret("Bearer hunter2")
    }

    @Test("a secret's characters never show: interpolation, debug text, dump and Mirror of what holds it")
    func neverPrinted() {
        let secret = Secret("Bearer hunter2")
        var dumped = ""
        dump(Holder(), to: &dumped)
        for text in ["\(secret)", String(reflecting: secret), "\(Holder())", String(reflecting: Holder()), dumped,
                     "\(Mirror(reflecting: secret).children.map { "\($0.value)" })"] {
            #expect(!text.contains("hunter2"), "\(text)")
        }
        #expect(dumped.contains("<secret>") || dumped.contains("Secret"))
    }

    @Test("secrets compare by value")
    func equality() {
        #expect(Secret("a") == Secret("a"))
        #expect(Secret("a") != Secret("b"))
        #expect(Secret("a") != Secret("ab"))
    }
}
