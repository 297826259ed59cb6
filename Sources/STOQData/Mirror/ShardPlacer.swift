import Foundation
import HyperMeshCore
import STOQ

/// Sends shards to peers while they are being made: shard j of the stripe numbered i goes to peer
/// (i + j) mod n, each peer fed by a thread of its own from a queue, 64 shards per round of PUTs, each sent
/// from its file in the shard store. A peer that fails is given nothing more (what it lacks is placed at the
/// next reconcile).
public final class ShardPlacer: @unchecked Sendable {
    private let peers: [ShardPeer]
    private let shards: ChunkStore
    private let condition = NSCondition()
    private var queues: [[ContentID]]
    private var closed = false
    private var running: Int
    private var placed: [[ContentID]]
    private var failures: [(any Error)?]

    public init(peers: [ShardPeer], shards: ChunkStore) {
        self.peers = peers
        self.shards = shards
        self.queues = Array(repeating: [], count: peers.count)
        self.placed = Array(repeating: [], count: peers.count)
        self.failures = Array(repeating: nil, count: peers.count)
        self.running = peers.count
        for index in peers.indices {
            let thread = Thread { self.sendQueued(to: index) }
            thread.name = "shards-\(index)"
            thread.start()
        }
    }

    /// Queues the shards of the stripe numbered `number`.
    public func place(_ number: Int, _ stripe: MirrorManifest.Stripe) {
        guard !self.peers.isEmpty else { return }
        for (position, hex) in stripe.shards.enumerated() {
            if let id = ContentID(hex: hex) { self.send(id, to: Self.target(stripe: number, position: position, peers: self.peers.count)) }
        }
    }

    /// Queues one shard for the peer at `index` in `peers`.
    public func send(_ id: ContentID, to index: Int) {
        self.condition.withLock {
            self.queues[index].append(id)
            self.condition.broadcast()
        }
    }

    /// The peer that shard `position` of stripe `stripe` goes to: round-robin, so a stripe's shards land on as
    /// many distinct peers as there are.
    public static func target(stripe: Int, position: Int, peers: Int) -> Int { (stripe + position) % peers }

    /// Waits until every queued shard is sent; returns what each peer (by name) now holds from this placer,
    /// and the peers that failed.
    public func finish() -> (placed: [String: Set<ContentID>], failed: [String: any Error]) {
        self.condition.withLock {
            self.closed = true
            self.condition.broadcast()
            while self.running > 0 { self.condition.wait() }
        }
        var placed: [String: Set<ContentID>] = [:]
        var failed: [String: any Error] = [:]
        for (index, peer) in self.peers.enumerated() {
            if let failure = self.failures[index] { failed[peer.name] = failure }
            placed[peer.name, default: []].formUnion(self.placed[index])
        }
        return (placed, failed)
    }

    private func sendQueued(to index: Int) {
        while true {
            let batch: [ContentID]? = self.condition.withLock {
                while self.queues[index].isEmpty && !self.closed { self.condition.wait() }
                guard !self.queues[index].isEmpty else { return nil }
                let batch = Array(self.queues[index].prefix(64))
                self.queues[index].removeFirst(batch.count)
                return batch
            }
            guard let batch else { break }
            guard self.condition.withLock({ self.failures[index] == nil }) else { continue }
            do {
                try self.peers[index].put(contents: batch.map { ($0, .file(path: self.shards.path(of: $0).path)) })
                self.condition.withLock { self.placed[index] += batch }
            } catch {
                self.condition.withLock { self.failures[index] = error }
            }
        }
        self.condition.withLock {
            self.running -= 1
            self.condition.broadcast()
        }
    }
}
