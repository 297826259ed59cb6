import Foundation
import HyperMeshCore

/// When each mirror policy last looked for unused shards on its peers, in this process: asking a peer for
/// everything this node holds there is not done on every reconcile.
final class PeerCollectionSchedule: @unchecked Sendable {
    static let shared = PeerCollectionSchedule()

    private let lock = NSLock()
    private var last: [String: Date] = [:]

    /// Whether the policy's peers were not looked at within `interval` (or not yet in this process).
    func isDue(state: URL, policy: String, every interval: TimeSpan, now: Date = Date()) -> Bool {
        self.lock.withLock {
            self.last[Self.key(state, policy)].map { now.timeIntervalSince($0) >= interval.timeInterval } ?? true
        }
    }

    func collected(state: URL, policy: String, now: Date = Date()) {
        self.lock.withLock { self.last[Self.key(state, policy)] = now }
    }

    private static func key(_ state: URL, _ policy: String) -> String { state.standardizedFileURL.path + "\u{0}" + policy }
}
