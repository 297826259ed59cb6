import Foundation
import STOQ
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import STOQData

/// Garbage collection: the shards no kept version uses, here and on the peers, and the copies peers hold
/// that no policy allowing them keeps.
extension MirrorPolicyController {
    /// What must stay: the shards of every kept version, and per peer those of the policies that allow it.
    struct Keeping {
        /// The shards of every kept manifest here (of stored policies, and of any other left in the folder).
        var live: Set<ContentID>
        /// Per peer node id: the shards of the kept versions of the policies that allow that peer.
        var byPeer: [String: Set<ContentID>]
        /// The shards of policies not yet fully replicated: every peer keeps its copies of these.
        var unsettled: Set<ContentID>
        /// Which policy allows which peers, and which are settled: a change calls for looking at the peers again.
        var placement: String
    }

    /// What every stored policy and kept manifest says must stay; `nil` when a manifest cannot be read. A
    /// policy is settled when `settled` says so or, failing that, when its status is `Replicated` or
    /// `LocalOnly` (nothing placed by choice). `addresses` are the mesh's nodes, `own` this node's id.
    static func keeping(state: URL, store: StateStore, addresses: [String: String], own: String,
                        settled: [String: Bool] = [:]) throws -> Keeping? {
        let manifests = Self.directory(state).appendingPathComponent("manifests")
        var byPolicy: [String: Set<ContentID>] = [:]
        var live = Set<ContentID>()
        for relative in FileManager.default.enumerator(atPath: manifests.path)?.allObjects as? [String] ?? []
        where relative.hasSuffix(".json") && !relative.hasSuffix(".index.json") {
            let path = manifests.appendingPathComponent(relative).path
            guard let data = FileManager.default.contents(atPath: path),
                  let manifest = try? MirrorManifest.decode([UInt8](data), source: path) else { return nil }
            let ids = Set(manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:)))
            live.formUnion(ids)
            // `NAME.json` or `NAME.history/ROOT.json`.
            let policy = relative.contains("/") ? String(relative.prefix { $0 != "/" }.dropLast(".history".count))
                                                : String(relative.dropLast(".json".count))
            byPolicy[policy, default: []].formUnion(ids)
        }
        var byPeer: [String: Set<ContentID>] = [:]
        var unsettled = Set<ContentID>()
        var placement: [String] = []
        for policy in try store.objects(of: .mirrorPolicy) where policy.deletionRequestedAt == nil {
            let name = policy.key.name
            let allowed = Self.allowedPeerIDs(MirrorSpec(policy.spec), addresses: addresses, own: own)
            for peer in allowed { byPeer[peer, default: []].formUnion(byPolicy[name] ?? []) }
            let reason = policy.status?.condition(Condition.ready)?.reason
            let isSettled = settled[name] ?? (reason == "Replicated" || reason == "LocalOnly")
            if !isSettled { unsettled.formUnion(byPolicy[name] ?? []) }
            placement.append("\(name)\(isSettled ? "" : " (unsettled)")=\(allowed.joined(separator: ","))")
        }
        return Keeping(live: live, byPeer: byPeer, unsettled: unsettled, placement: placement.sorted().joined(separator: ";"))
    }

    /// Deletes the shards here that no kept version uses once they are older than ``garbageGrace`` (mark and
    /// sweep, as `git gc`: the shards of an encode still writing its manifest are safe), and gives up on every
    /// peer of the mesh what it should not keep (``PeerShardCollector``; the copies of a policy not yet fully
    /// replicated stay on every peer). The peers are looked at when this node deleted some of its own shards,
    /// when which policy allows which peers (or which policies are settled) changed, when `force`d, and at
    /// least once per grace period (a peer that could not be asked is asked again then). Nothing is deleted or
    /// given up when a manifest cannot be read.
    static func collectGarbage(state: URL, shards: ChunkStore, store: StateStore, force: Bool = false, settled: [String: Bool] = [:],
                               dialFrom: STOQServer? = nil, now: Date = Date()) throws -> (collected: Int, released: [PeerShardCollector.Outcome]) {
        let addresses = try Self.meshAddresses(store)
        let own = try NodeIdentity.loadOrCreate(in: state).identity.nodeID
        guard let keeping = try Self.keeping(state: state, store: store, addresses: addresses, own: own, settled: settled) else {
            return (0, [])
        }
        let collected = try shards.sweep(keeping: keeping.live, grace: Self.garbageGrace, now: now).count
        let schedule = PeerCollectionSchedule.shared
        guard force || collected > 0 || schedule.isDue(state: state, placement: keeping.placement, every: Self.garbageGrace, now: now) else {
            return (collected, [])
        }
        let tls = NodeTLS.configuration(state)
        let peers = addresses.sorted { $0.key < $1.key }.filter { $0.key != own }.compactMap {
            try? ShardPeer(address: $0.value, nodeID: $0.key, tls: tls, dialFrom: dialFrom)
        }
        defer { for peer in peers { peer.close() } }
        let targets = peers.map { PeerShardCollector.Target(peer: $0, keep: keeping.byPeer[$0.name, default: []].union(keeping.unsettled)) }
        let released = PeerShardCollector.collect(targets, live: keeping.live, shards: shards, grace: Self.garbageGrace, now: now)
        // Marked even when a peer failed: one that is down is tried again at the next due time, not on every
        // reconcile (each try of an unreachable host waits for its connection timeout).
        schedule.collected(state: state, placement: keeping.placement, now: now)
        return (collected, released)
    }

    /// Deletes the policy's versions: its current manifest, its history and its source index.
    static func forgetVersions(state: URL, name: String) throws {
        for url in [Self.manifestPath(state, name: name), Self.historyDirectory(state, name: name), Self.indexPath(state, name: name)] {
            do {
                try FileManager.default.removeItem(at: url)
            } catch let error as CocoaError where error.code == .fileNoSuchFile {
                continue
            }
        }
    }

    /// Events for what a collection deleted here and gave up on peers; a warning for peers that could not be asked.
    static func report(_ garbage: (collected: Int, released: [PeerShardCollector.Outcome]), of key: ResourceKey,
                       context: ReconcileContext) {
        if garbage.collected > 0 {
            context.events.record(key, .normal, reason: "ShardsCollected", message: "\(garbage.collected) shards no kept version uses were deleted")
        }
        let released = garbage.released.reduce(0) { $0 + $1.released }
        if released > 0 {
            let peers = garbage.released.filter { $0.released > 0 }.map { "\($0.peer.prefix(12)): \($0.released)" }
            context.events.record(key, .normal, reason: "ShardsReleased",
                                  message: "\(released) shards were given up on peers that no policy keeps them on (\(peers.joined(separator: ", ")))")
        }
        for outcome in garbage.released {
            if let error = outcome.error {
                context.logger.warning("Could not collect unused shards on a mirror peer", metadata: ["peer": "\(outcome.peer)", "error": "\(error)"])
            }
        }
    }
}
