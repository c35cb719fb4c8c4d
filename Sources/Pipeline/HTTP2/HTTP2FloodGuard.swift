/// Counts what an HTTP/2 client may cost us without asking for anything useful, and says when to
/// stop: stream resets (rapid reset, CVE-2023-44487) and control frames (SETTINGS, PING,
/// PRIORITY, empty DATA, unknown types: CVE-2019-9512/9515/9518). Each is a token bucket that
/// holds one second's worth and refills continuously, so a burst at connection start is fine and
/// a sustained flood is not. Header block size is checked per block by the connection; what a
/// client makes us decode for nothing (fields of a header list already refused, trailers) and
/// how many header lists it gets refused are budgets here too (HPACK bombs).
struct HTTP2FloodGuard {
    /// A token bucket: `capacity` tokens, refilled at `capacity` per second.
    struct Bucket {
        let capacity: Double
        private(set) var tokens: Double
        private var last: UInt64

        init(perSecond: Int, now: UInt64) {
            capacity = Double(perSecond)
            tokens = capacity
            last = now
        }

        /// Takes `count` tokens; false when fewer are left (then none are taken).
        mutating func take(_ count: Double = 1, now: UInt64) -> Bool {
            if now > last {
                tokens = min(capacity, tokens + Double(now - last) * capacity / 1000)
                last = now
            }
            guard tokens >= count else { return false }
            tokens -= count
            return true
        }
    }

    /// Header lists a client may get refused (414, 431) per second.
    static let refusedHeaderListsPerSecond = 10
    /// Decoded header bytes a client may waste per second, in header lists (`maxHeaderListBytes`):
    /// fields decoded after their list was refused, and trailers (which are dropped).
    static let wastedHeaderListsPerSecond = 4

    private var resets: Bucket
    private var controlFrames: Bucket
    private var refusedLists: Bucket
    private var wastedHeaderBytes: Bucket

    init(settings: HTTP2Settings, now: UInt64 = Monotonic.now) {
        resets = Bucket(perSecond: settings.maxResetsPerSecond, now: now)
        controlFrames = Bucket(perSecond: settings.maxControlFramesPerSecond, now: now)
        refusedLists = Bucket(perSecond: Self.refusedHeaderListsPerSecond, now: now)
        wastedHeaderBytes = Bucket(perSecond: Self.wastedHeaderListsPerSecond * settings.maxHeaderListBytes, now: now)
    }

    /// Records a header list refused with 414 or 431; false once they come faster than allowed.
    mutating func allowRefusedHeaderList(now: UInt64 = Monotonic.now) -> Bool { refusedLists.take(now: now) }

    /// Records `bytes` decoded for nothing; false once the client's budget is spent.
    mutating func allowWastedHeaderBytes(_ bytes: Int, now: UInt64 = Monotonic.now) -> Bool {
        wastedHeaderBytes.take(Double(bytes), now: now)
    }

    /// Records a RST_STREAM from the client; false once the client resets faster than allowed.
    mutating func allowReset(now: UInt64 = Monotonic.now) -> Bool { resets.take(now: now) }

    /// Records a control frame from the client; false once they come faster than allowed.
    mutating func allowControlFrame(now: UInt64 = Monotonic.now) -> Bool { controlFrames.take(now: now) }
}
