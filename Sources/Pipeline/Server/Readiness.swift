import Synchronization

/// Whether a server should be sent new traffic, as the `health` middleware reports it on `/readyz`.
///
/// A server is `starting` until its pipeline is built and its listeners are accepting, `ready`
/// while it serves (a reload in progress included: the old pipeline serves until the new one is
/// swapped in), and `draining` from the moment it is asked to stop, while it still serves for the
/// pipeline's `drainDelay` so a load balancer takes it out of rotation before connections are refused.
public final class Readiness: Sendable {
    public enum Phase: Int, Sendable {
        case starting, ready, draining
    }

    private let value: Atomic<Int>

    package init(_ phase: Phase = .starting) { value = Atomic(phase.rawValue) }

    public var phase: Phase { Phase(rawValue: value.load(ordering: .acquiring)) ?? .starting }

    /// Only forward: a draining server never becomes ready again.
    package func advance(to phase: Phase) {
        var current = value.load(ordering: .acquiring)
        while current < phase.rawValue {
            let (exchanged, original) = value.compareExchange(expected: current, desired: phase.rawValue, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// The `BuildContext.shared` key a readiness endpoint sets, so `drainDelay` defaults to 5 s
    /// when a balancer can see readiness and to 0 otherwise.
    public static let endpointKey = "readiness.endpoint"

    /// What a context made outside a server (tests, a behaviour's own fetches) sees: always ready.
    public static let standalone = Readiness(.ready)
}
