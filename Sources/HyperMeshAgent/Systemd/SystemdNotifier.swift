import CSystemd
import Foundation

/// systemd's notification protocol (`sd_notify`): READY, STATUS, WATCHDOG, RELOADING, STOPPING.
///
/// Without `$NOTIFY_SOCKET` (not started by systemd as `Type=notify`) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// Whether `$NOTIFY_SOCKET` is set.
    public let isEnabled: Bool

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.isEnabled = !(environment["NOTIFY_SOCKET"] ?? "").isEmpty
    }

    /// Sends newline-separated `KEY=value` assignments.
    public func notify(_ assignments: String) {
        guard self.isEnabled else { return }
        _ = assignments.withCString { sd_notify(0, $0) }
    }

    public func ready(status: String) { self.notify("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { self.notify("STATUS=\(text)") }
    public func watchdog() { self.notify("WATCHDOG=1") }
    public func stopping() { self.notify("STOPPING=1\nSTATUS=stopping") }

    /// `RELOADING=1` with the CLOCK_MONOTONIC time systemd 253+ wants alongside it.
    public func reloading() {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let microseconds = UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1000
        self.notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)\nSTATUS=reloading")
    }

    /// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, or `nil` when no watchdog is set.
    public static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }
}
