#if canImport(Glibc)
internal import Glibc
#endif

/// Monotonic milliseconds: deadlines inside the engine.
enum Monotonic {
    static var now: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Milliseconds from the coarse clock (the last timer tick, a few ms behind at most; read from
    /// the vDSO without touching the clock hardware): for windows checked on every request.
    static var coarse: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    static func after(_ duration: Duration) -> UInt64 {
        now + UInt64(max(0, duration.seconds * 1000))
    }
}
