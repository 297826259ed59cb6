import CNGTCP2

/// QUIC transport settings both ends use: windows, limits, timeouts, congestion control.
public struct TransportTuning: Sendable {
    /// Connection-level flow-control window offered to the peer at first.
    public var initialMaximumDataBytes: UInt64 = 16 << 20
    /// Per-stream flow-control window offered to the peer at first.
    public var initialMaximumStreamDataBytes: UInt64 = 8 << 20
    /// How far ngtcp2 may auto-tune the connection window.
    public var maximumWindowBytes: UInt64 = 64 << 20
    /// How far ngtcp2 may auto-tune each stream's window.
    public var maximumStreamWindowBytes: UInt64 = 32 << 20
    /// Concurrent bidirectional streams the peer may open.
    public var maximumBidirectionalStreams: UInt64 = 128
    /// A connection with no packets for this long is closed silently.
    public var idleTimeout: Duration = .seconds(30)
    /// A handshake not finished in this time fails.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Congestion control: CUBIC (default) or BBR.
    public var congestionControl: CongestionControl = .cubic
    /// The largest UDP payload we send once path MTU discovery allows it; 1452 suits Ethernet paths.
    /// On loopback (MTU 65536) larger packets cut per-packet costs.
    public var maximumUDPPayloadBytes: Int = 1452

    public enum CongestionControl: String, Sendable, CaseIterable {
        case cubic, bbr, reno
        var algorithm: ngtcp2_cc_algo {
            switch self {
            case .cubic: return NGTCP2_CC_ALGO_CUBIC
            case .bbr: return NGTCP2_CC_ALGO_BBR
            case .reno: return NGTCP2_CC_ALGO_RENO
            }
        }
    }

    public init() {}

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let parts = duration.components
        return UInt64(parts.seconds) * 1_000_000_000 + UInt64(parts.attoseconds / 1_000_000_000)
    }
}
