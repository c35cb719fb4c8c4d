import Pipeline
import Testing

@Suite("RFC 3339 times as GitHub writes them")
struct WallClockTests {
    @Test("expires_at parses to epoch seconds, with fractions and offsets")
    func parse() {
        #expect(WallClock.parse("2016-07-11T22:14:10Z") == 1_468_275_250)
        #expect(WallClock.parse("2016-07-11T22:14:10.5Z") == 1_468_275_250.5)
        #expect(WallClock.parse("2016-07-12T00:14:10+02:00") == 1_468_275_250)
        for bad in ["", "2016-07-11", "2016-07-11 22:14:10Z", "2016-07-11T22:14:10", "2016-07-11T22:14:10Zjunk"] {
            #expect(WallClock.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("formatting round-trips")
    func format() {
        #expect(WallClock.format(1_468_275_250) == "2016-07-11T22:14:10Z")
        #expect(WallClock.parse(WallClock.format(1_700_000_000)) == 1_700_000_000)
    }
}
