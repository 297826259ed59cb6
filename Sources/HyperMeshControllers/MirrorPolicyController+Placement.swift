import Foundation
import HyperMeshCore
import HyperMeshStore
import Logging
import STOQ
import STOQData

/// Placement: which peers, what they hold, what is missing here and there, and the stripes' health.
extension MirrorPolicyController {
    /// Under-replicated stripes: on fewer than `minCopies` targets (this node counts as one), or with fewer
    /// than `data` + 1 shards on the reachable peers.
    static func health(_ manifest: MirrorManifest, spec: MirrorSpec, local: Set<ContentID>, held: [String: Set<ContentID>])
        -> (underReplicated: Int, tooFewShards: Int, targets: Int) {
        let targets = min(spec.minCopies, spec.allowedPeerCount + 1)
        var underReplicated = 0
        var tooFewShards = 0
        for stripe in manifest.stripes {
            let ids = stripe.shards.compactMap(ContentID.init(hex:))
            let holders = held.values.filter { !$0.isDisjoint(with: ids) }.count + (local.isDisjoint(with: ids) ? 0 : 1)
            let onPeers = Set(ids.filter { id in held.values.contains { $0.contains(id) } }).count
            let peersShort = spec.allowedPeerCount > 0 && onPeers < spec.data + 1
            if peersShort { tooFewShards += 1 }
            if peersShort || holders < targets { underReplicated += 1 }
        }
        return (underReplicated, tooFewShards, targets)
    }

    /// What each peer holds, asked of all peers in parallel; a peer that cannot be reached is absent.
    static func holdings(of peers: [ShardPeer], ids: [ContentID]) -> [String: Set<ContentID>] {
        let sets = concurrentMap(peers.count) { peers[$0].holdings(ids) }
        var held: [String: Set<ContentID>] = [:]
        for (peer, set) in zip(peers, sets) { held[peer.name] = set }
        return held
    }

    /// Rebuilds the shards this node should hold and does not (deleted, or quarantined as corrupt) from the
    /// rest of their stripes, here and on the peers. Returns how many were rebuilt and the stripes that cannot
    /// be (fewer than `data` shards anywhere reachable).
    func repairLocal(_ manifest: MirrorManifest, local: Set<ContentID>, peers: [ShardPeer],
                     shards: ChunkStore) throws -> (rebuilt: Int, lost: [Int]) {
        let damaged = manifest.stripes.indices.filter { index in
            manifest.stripes[index].shards.contains { ContentID(hex: $0).map { !local.contains($0) } ?? true }
        }
        guard !damaged.isEmpty else { return (0, []) }
        let code = try ReedSolomon(dataShards: manifest.data, parityShards: manifest.parity)
        let restorer = MirrorRestorer(manifest: manifest, sources: [shards] + peers)
        var rebuilt = 0
        var lost: [Int] = []
        func rebuild(_ index: Int, _ bytes: [UInt8]) throws {
            for (hex, shard) in zip(manifest.stripes[index].shards, code.encodeStripe(bytes)) {
                guard let id = ContentID(hex: hex), !local.contains(id) else { continue }
                guard ContentID(of: shard) == id else {
                    throw HyperMeshError.corruptData("stripe \(index) re-encodes to other shards than its manifest names")
                }
                try shards.put(shard)
                rebuilt += 1
            }
        }
        do {
            try restorer.stripes(damaged, rebuild)
        } catch let error as HyperMeshError where error.code == .notFound {
            // Some stripe is short: go one by one to rebuild the others and name the lost.
            for index in damaged {
                do { try restorer.stripes([index], rebuild) } catch let error as HyperMeshError where error.code == .notFound {
                    lost.append(index)
                }
            }
        }
        return (rebuilt, lost)
    }

    /// Puts every shard a peer should hold and does not (``ShardPlacer``, round-robin over `peers`, all at
    /// once, each shard sent from its file here). A peer refusing a shard whose local copy turns out corrupt
    /// is not an error: the copy is quarantined and rebuilt at the next reconcile. Returns the shards placed.
    func place(_ manifest: MirrorManifest, on peers: [ShardPeer], held: inout [String: Set<ContentID>],
               shards: ChunkStore, logger: Logger) throws -> Int {
        let placer = ShardPlacer(peers: peers, shards: shards)
        var queued = [[ContentID]](repeating: [], count: peers.count)
        for (index, stripe) in manifest.stripes.enumerated() {
            for (position, hex) in stripe.shards.enumerated() {
                guard let id = ContentID(hex: hex), shards.contains(id), !held.values.contains(where: { $0.contains(id) }) else { continue }
                let target = ShardPlacer.target(stripe: index, position: position, peers: peers.count)
                placer.send(id, to: target)
                queued[target].append(id)
            }
        }
        let (placed, failed) = placer.finish()
        for (target, peer) in peers.enumerated() {
            guard let failure = failed[peer.name] else { continue }
            let corrupt = queued[target].filter { id in
                do { _ = try shards.get(id) } catch let error as HyperMeshError where error.code == .corruptData { return true } catch {}
                return false
            }
            guard !corrupt.isEmpty else { throw failure }
            logger.warning("Corrupt local shards quarantined; they are rebuilt next", metadata: ["count": "\(corrupt.count)"])
        }
        for (name, ids) in placed { held[name, default: []].formUnion(ids) }
        return placed.values.reduce(0) { $0 + $1.count }
    }

    /// The peers a policy may use (`placement`), reached with the node's STOQ certificate in `STATE/stoq/`,
    /// and the node ids it names that no Mesh gives an address for.
    public static func peers(for specValue: JSONValue, stateDirectory: URL, store: StateStore, dialFrom: STOQServer? = nil) throws
        -> ([ShardPeer], [String])
    {
        let addresses = try Self.meshAddresses(store)
        let own = try NodeIdentity.loadOrCreate(in: stateDirectory).identity.nodeID
        let tls = NodeTLS.configuration(stateDirectory)
        var peers: [ShardPeer] = []
        var unknown: [String] = []
        for id in Self.allowedPeerIDs(MirrorSpec(specValue), addresses: addresses, own: own) {
            guard let address = addresses[id], let peer = try? ShardPeer(address: address, nodeID: id, tls: tls, dialFrom: dialFrom) else {
                unknown.append(id)
                continue
            }
            peers.append(peer)
        }
        return (peers, unknown)
    }

    /// The node ids a policy may place on: none when `private`, any the mesh knows when public, else those
    /// it lists — never this node.
    static func allowedPeerIDs(_ spec: MirrorSpec, addresses: [String: String], own: String) -> [String] {
        guard spec.privacy != "private", !spec.peers.isEmpty || spec.openToAnyPeer else { return [] }
        return (spec.openToAnyPeer ? Array(addresses.keys) : spec.peers).filter { $0 != own }.sorted()
    }

    /// Node id → address, from the `validators` of the stored Mesh objects.
    static func meshAddresses(_ store: StateStore) throws -> [String: String] {
        var addresses: [String: String] = [:]
        for mesh in try store.objects(of: .mesh) where mesh.deletionRequestedAt == nil {
            for entry in mesh.spec["validators"]?.arrayValue ?? [] {
                if let id = entry["id"]?.stringValue, let address = entry["address"]?.stringValue { addresses[id] = address }
            }
        }
        return addresses
    }
}
