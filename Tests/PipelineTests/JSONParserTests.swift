import Testing
@testable import Pipeline

@Suite("JSON parser")
struct JSONParserTests {
    @Test("a number too large for a Double is refused, not read as infinity (fuzz finding)", arguments: ["1e340", "[-1e400]", "{\"a\": 2E999}"])
    func outOfRange(text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
        #expect((try? JSONParser.parse(text)) == nil)
        do {
            _ = try JSONParser.parse(text)
        } catch {
            #expect((error as? JSONSyntaxError)?.message == "number out of range")
        }
    }

    @Test("what parses serializes to text that parses back to the same value")
    func roundTrip() throws {
        let value = try JSONParser.parse(#"{"a": [1, -2.5e10, 1.7976931348623157e308, true, null, "é\n\u0001"], "b": {}}"#)
        #expect(try JSONParser.parse(value.serialized()) == value)
    }
}
