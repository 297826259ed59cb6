import Foundation
import HyperMeshCore

/// When to renew a certificate: `renewBefore` ahead of expiry (a third of the lifetime by
/// default), earlier by a random jitter of up to 10 % of that window so a fleet does not
/// renew at once. Never later than the window's start, never before issuance.
public struct RenewalSchedule: Sendable {
    /// The largest jitter, as a fraction of the renewal window.
    public static let maximumJitterFraction = 0.1

    public var notBefore: Date
    public var notAfter: Date
    public var renewBefore: TimeSpan

    public init(notBefore: Date, notAfter: Date, renewBefore: TimeSpan? = nil) {
        precondition(notAfter > notBefore)
        self.notBefore = notBefore
        self.notAfter = notAfter
        let lifetime = TimeSpan(milliseconds: Int64(notAfter.timeIntervalSince(notBefore) * 1000))
        self.renewBefore = renewBefore ?? TimeSpan(milliseconds: lifetime.milliseconds / 3)
    }

    /// The start of the renewal window.
    public var windowStart: Date { self.notAfter.addingTimeInterval(-self.renewBefore.timeInterval) }

    /// The renewal time for a jitter draw in `0 ..< 1`.
    public func renewalTime(jitter draw: Double) -> Date {
        precondition(draw >= 0 && draw < 1, "a jitter draw is in 0 ..< 1")
        let jitter = draw * Self.maximumJitterFraction * self.renewBefore.timeInterval
        return max(self.notBefore, self.windowStart.addingTimeInterval(-jitter))
    }

    /// A draw in `0 ..< 1` derived from `seed` and `serial`: stable for one certificate, different across a fleet.
    public static func jitterDraw(seed: UInt64, serial: String) -> Double {
        var state = seed
        for byte in serial.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01B3 }
        // SplitMix64 finalizer.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }
}
