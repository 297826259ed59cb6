import Foundation
import HyperMeshCore

/// The peers' half of garbage collection: gives up the shards this node holds on its peers that no kept
/// version uses, so a peer deletes them once no other node holds them either (`stoq/1` OWNED, then RELEASE).
///
/// What a peer lists is compared with `live`, the shards of every kept version, and with the shards this node
/// stored less than the grace period ago: an encode still writing its manifest stores each shard here before
/// it sends it, and the list is asked for first, so those are never given up.
public enum PeerShardCollector {
    /// What one peer was asked and gave up.
    public struct Outcome: Sendable {
        public var peer: String
        /// Shards this node held there and gave up.
        public var released: Int
        /// Why the peer could not be collected, when it could not.
        public var error: String?
    }

    /// Collects every peer in parallel.
    public static func collect(peers: [ShardPeer], live: Set<ContentID>, shards: ChunkStore, grace: TimeSpan,
                               now: Date = Date()) -> [Outcome] {
        concurrentMap(peers.count) { index in
            let peer = peers[index]
            do {
                let owned = try peer.owned()
                let recent = try shards.stored(within: grace, now: now)
                let unused = owned.subtracting(live).subtracting(recent)
                guard !unused.isEmpty else { return Outcome(peer: peer.name, released: 0) }
                return Outcome(peer: peer.name, released: try peer.release(unused.sorted { $0.description < $1.description }).count)
            } catch {
                return Outcome(peer: peer.name, released: 0, error: "\(error)")
            }
        }
    }
}
