/// Limits on what a client may send in a request head (answered with 431, 414 and 413).
public struct HTTPLimits: Sendable, Equatable {
    public var maxHeaderBytes = 64 * 1024
    public var maxHeaderCount = 100
    public var maxURIBytes = 8 * 1024

    public init() {}
}
