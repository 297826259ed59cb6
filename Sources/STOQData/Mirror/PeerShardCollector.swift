import Foundation
import HyperMeshCore

/// The peers' half of garbage collection: gives up the shards this node holds on a peer that the peer
/// should no longer keep, so it deletes them once no other node holds them either (`stoq/1` OWNED, then
/// RELEASE).
///
/// A peer keeps the shards of the kept versions of every policy that allows it (`keep`). Everything else it
/// holds for this node is given up — a shard of a dropped version, of a deleted policy, or of a policy that
/// no longer places on that peer — except what no kept version uses and this node stored less than the
/// grace period ago: an encode still writing its manifest stores each shard here before it sends it, and the
/// list is asked for first, so such a shard is never given up.
public enum PeerShardCollector {
    /// One peer and the shards it should keep.
    public struct Target {
        public var peer: ShardPeer
        public var keep: Set<ContentID>

        public init(peer: ShardPeer, keep: Set<ContentID>) {
            self.peer = peer
            self.keep = keep
        }
    }

    /// What one peer was asked and gave up.
    public struct Outcome: Sendable {
        public var peer: String
        /// Shards this node held there and gave up.
        public var released: Int
        /// Why the peer could not be collected, when it could not.
        public var error: String?
    }

    /// Collects every target in parallel; `live` is the shards of every kept version of any policy.
    public static func collect(_ targets: [Target], live: Set<ContentID>, shards: ChunkStore, grace: TimeSpan,
                               now: Date = Date()) -> [Outcome] {
        concurrentMap(targets.count) { index in
            let target = targets[index]
            do {
                let owned = try target.peer.owned()
                let unusedAndRecent = try shards.stored(within: grace, now: now).subtracting(live)
                let unwanted = owned.subtracting(target.keep).subtracting(unusedAndRecent)
                guard !unwanted.isEmpty else { return Outcome(peer: target.peer.name, released: 0) }
                let released = try target.peer.release(unwanted.sorted { $0.description < $1.description })
                return Outcome(peer: target.peer.name, released: released.count)
            } catch {
                return Outcome(peer: target.peer.name, released: 0, error: "\(error)")
            }
        }
    }
}
