@testable import Middlewares
import Testing

@Suite("Link header (RFC 8288) as GitHub paginates")
struct LinkHeaderTests {
    @Test("next and last are read from GitHub's format")
    func githubFormat() {
        let header = LinkHeader("<https://api.github.com/repositories/1300192/tags?per_page=100&page=2>; rel=\"next\", "
            + "<https://api.github.com/repositories/1300192/tags?per_page=100&page=3>; rel=\"last\"")
        #expect(header.next == "https://api.github.com/repositories/1300192/tags?per_page=100&page=2")
        #expect(header.links["last"] == "https://api.github.com/repositories/1300192/tags?per_page=100&page=3")
    }

    @Test("the last page has no next; prev and first are kept")
    func lastPage() {
        let header = LinkHeader("<https://x/t?page=2>; rel=\"prev\", <https://x/t?page=1>; rel=\"first\"")
        #expect(header.next == nil)
        #expect(header.links["prev"] == "https://x/t?page=2")
        #expect(header.links["first"] == "https://x/t?page=1")
    }

    @Test("commas inside a target, unquoted and multi-valued rel, and several header fields")
    func edgeCases() {
        let header = LinkHeader(["<https://x/a?q=1,2>; rel=next", "<https://x/b>; title=\"x\"; rel=\"last prev\""])
        #expect(header.next == "https://x/a?q=1,2")
        #expect(header.links["last"] == "https://x/b")
        #expect(header.links["prev"] == "https://x/b")
    }

    @Test("absent or malformed headers give no links")
    func malformed() {
        #expect(LinkHeader(nil as String?).next == nil)
        #expect(LinkHeader("<https://x/a; rel=\"next\"").next == nil)
        #expect(LinkHeader("https://x/a; rel=\"next\"").next == nil)
    }
}
