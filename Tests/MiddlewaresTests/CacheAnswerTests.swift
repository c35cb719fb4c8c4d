import Pipeline
import Testing
@testable import Middlewares

@Suite("cache answers: the head a hit is built from")
struct CacheAnswerTests {
    /// What `merged` stands for: each field set in turn with `HTTPFields`' subscript.
    func setOneByOne(_ stored: HTTPFields, _ labels: HTTPFields, _ extra: HTTPField?) -> HTTPFields {
        var headers = stored
        for field in labels { headers[field.name] = field.value }
        if let extra { headers[extra.name] = extra.value }
        return headers
    }

    @Test("labels merged in one pass give the fields setting them one by one gives, order and spelling included")
    func mergedLabels() {
        let stored: HTTPFields = ["Content-Type": "text/plain", "accept-ranges": "none", "ETag": "\"1\"", "ACCEPT-RANGES": "x",
                                  "Age": "9", "Vary": "Accept"]
        let cases: [(HTTPFields, HTTPField?)] = [
            ([:], nil),
            (["Age": "3"], nil),
            (["Age": "3", "Cache-Status": "gateway; hit"], HTTPField(name: "Accept-Ranges", value: "bytes")),
            (["Cache-Status": "a", "X-Cache": "HIT"], HTTPField(name: "Accept-Ranges", value: "bytes")),
            (HTTPFields([HTTPField(name: "X-One", value: "1"), HTTPField(name: "x-one", value: "2"), HTTPField(name: "Age", value: "4")]),
             HTTPField(name: "X-ONE", value: "3")),
        ]
        for (labels, extra) in cases {
            let merged = CacheAnswer.merged(stored, labels, extra)
            let expected = setOneByOne(stored, labels, extra)
            #expect(Array(merged) == Array(expected), "\(labels) \(String(describing: extra))")
        }
        #expect(Array(CacheAnswer.merged([:], ["Age": "1"], nil)) == [HTTPField(name: "Age", value: "1")])
    }

    @Test("the key's URL part is GET, the host as Request.host gives it, the path and the query")
    func keyURL() {
        for authority in ["Example.COM:8443", "example.com", "[::1]:80", "[FE80::1]", "", "host:", "a:b:c", "[x:1"] {
            for query in [nil, "", "a=1&B=2"] as [String?] {
                let request = Request(method: .get, authority: authority, path: "/P/a%2Fb", query: query)
                var expected = "GET " + request.host + request.path
                if let query { expected += "?" + query }
                #expect(CacheKey(request, keyHeaders: []).text == expected)
            }
        }
    }

    @Test("preconditions and Range are told from other request fields, in any case")
    func asksForPart() {
        for name in ["If-None-Match", "if-modified-since", "IF-RANGE", "If-", "Range", "range", "RANGE", "If-ab"] {
            #expect(CacheAnswer.asksForPart(name), "\(name)")
        }
        for name in ["Host", "If", "Iff-x", "Ranges", "Rang", "", "I", "Accept", "X-If-None-Match", "Ifx-a", "If_a"] {
            #expect(!CacheAnswer.asksForPart(name), "\(name)")
        }
    }
}
