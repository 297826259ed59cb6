import Foundation
import HyperMeshCore

/// When this node last looked for shards its peers should no longer keep, per state directory and in this
/// process: asking every peer for everything this node holds there is not done on every reconcile, but again
/// when which policy allows which peers has changed since.
final class PeerCollectionSchedule: @unchecked Sendable {
    static let shared = PeerCollectionSchedule()

    private let lock = NSLock()
    private var last: [String: (time: Date, placement: String)] = [:]

    /// Whether the peers were not looked at within `interval`, or not with this `placement` (or not yet).
    func isDue(state: URL, placement: String, every interval: TimeSpan, now: Date = Date()) -> Bool {
        self.lock.withLock {
            guard let last = self.last[state.standardizedFileURL.path] else { return true }
            return last.placement != placement || now.timeIntervalSince(last.time) >= interval.timeInterval
        }
    }

    func collected(state: URL, placement: String, now: Date = Date()) {
        self.lock.withLock { self.last[state.standardizedFileURL.path] = (now, placement) }
    }
}
