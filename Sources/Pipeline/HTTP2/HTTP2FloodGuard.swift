/// Counts what an HTTP/2 client may cost us without asking for anything useful, and says when to
/// stop: stream resets (rapid reset, CVE-2023-44487) and control frames (SETTINGS, PING,
/// PRIORITY, empty DATA, unknown types: CVE-2019-9512/9515/9518). Each is a token bucket that
/// holds one second's worth and refills continuously, so a burst at connection start is fine and
/// a sustained flood is not. Header block size is checked per block by the connection.
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

        /// Takes one token; false when none is left.
        mutating func take(now: UInt64) -> Bool {
            if now > last {
                tokens = min(capacity, tokens + Double(now - last) * capacity / 1000)
                last = now
            }
            guard tokens >= 1 else { return false }
            tokens -= 1
            return true
        }
    }

    private var resets: Bucket
    private var controlFrames: Bucket

    init(settings: HTTP2Settings, now: UInt64 = Monotonic.now) {
        resets = Bucket(perSecond: settings.maxResetsPerSecond, now: now)
        controlFrames = Bucket(perSecond: settings.maxControlFramesPerSecond, now: now)
    }

    /// Records a RST_STREAM from the client; false once the client resets faster than allowed.
    mutating func allowReset(now: UInt64 = Monotonic.now) -> Bool { resets.take(now: now) }

    /// Records a control frame from the client; false once they come faster than allowed.
    mutating func allowControlFrame(now: UInt64 = Monotonic.now) -> Bool { controlFrames.take(now: now) }
}
