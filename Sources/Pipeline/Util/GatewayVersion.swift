/// The gateway's version, printed by `gateway version` and in the start log line.
public enum GatewayVersion {
    public static let string = "0.1.0"
}
