import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import Logging
import STOQ
import STOQData

/// Reconciles `MirrorPolicy`: chunks the source (FastCDC), erasure-codes its new chunks into stripes of
/// shards (ISA-L Reed–Solomon), keeps every shard in the local shard store (`STATE/mirror/shards`) and
/// places them round-robin on the peers the policy allows, over STOQ; then reports the version, its size,
/// the shards each target holds, and the stripes that are under-replicated.
///
/// Versions are incremental (``StripeEncoder``): unchanged files are not read again, the previous
/// version's stripes stay where they are, and only new chunks become new stripes — so a change moves only
/// what changed. The current manifest is `STATE/mirror/manifests/NAME.json`; the previous `keepVersions` − 1
/// stay restorable in `NAME.history/`, and shards no kept version uses are collected after a grace period —
/// here, and on the peers, which delete a shard once no node holds it (`stoq/1` RELEASE). A peer also gives
/// up the copies no policy allowing it keeps (it left a placement, or the policy became `private`), once
/// that policy is fully replicated without it. Deleting the policy deletes its versions the same way.
///
/// Targets are this node's store and the reachable peers. A stripe is *under-replicated* when its shards
/// are on fewer than `placement.minCopies` targets, or when the reachable peers hold fewer than `data` + 1
/// of them (at least `data` are needed to rebuild it without this node; one more survives a further loss).
/// Then the policy is `Degraded` (`UnderReplicated`). Every reconcile — every `repairInterval` (default
/// 10m), at most 30 s apart so a lost peer is noticed at once, and whenever the source changes when an agent
/// watches it — places what is missing on the peers reachable now, rebuilding a shard from parity when the
/// local copy is gone.
///
/// Peers: `placement.peers` lists node ids; their addresses come from the stored `Mesh` objects'
/// `validators`. `privacy: private` places nothing on peers; `public-network` and `full-public` may use any
/// peer a Mesh lists; the other levels only the listed ones. STOQ uses the node's certificate in
/// `STATE/stoq/` (`chain.pem`, `key.pem`, `root.pem`, optional `crl.pem`).
public struct MirrorPolicyController: Controller {
    /// The agent's STOQ server: shards go to peers from its socket (one UDP port per node); `nil` in the CLI.
    let dialFrom: STOQServer?

    public init(dialFrom: STOQServer? = nil) {
        self.dialFrom = dialFrom
    }

    public var kind: Kind { .mirrorPolicy }

    /// How long a lost peer may go unnoticed: the longest a healthy policy waits between reconciles.
    public static let peerCheckInterval = TimeSpan.seconds(30)
    /// How long shards no kept version uses stay before they are deleted.
    public static let garbageGrace = TimeSpan.hours(1)

    /// Where mirror state lives under the state directory.
    public static func directory(_ state: URL) -> URL { state.appendingPathComponent("mirror") }
    public static func manifestPath(_ state: URL, name: String) -> URL {
        Self.directory(state).appendingPathComponent("manifests/\(name).json")
    }
    /// Where the manifests of earlier versions are kept, as `ROOT.json`.
    public static func historyDirectory(_ state: URL, name: String) -> URL {
        Self.directory(state).appendingPathComponent("manifests/\(name).history")
    }
    static func indexPath(_ state: URL, name: String) -> URL {
        Self.directory(state).appendingPathComponent("manifests/\(name).index.json")
    }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        try await Self.onOwnThread { try self.reconcileBlocking(object, context: context) }
    }

    /// Chunking, coding and transfers block: they run on a thread of their own, not the reconciler's.
    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// A deleted policy's versions go: its manifests (current and history) and source index are deleted, then
    /// the shards no other policy's kept version uses — here once they are older than ``garbageGrace`` — and
    /// this node's hold on the peers' copies no other policy keeps there (peers that cannot be reached keep
    /// theirs until a later collection; the deletion does not wait for them).
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        try await Self.onOwnThread {
            let state = context.stateDirectory
            try Self.forgetVersions(state: state, name: object.key.name)
            let shards = try ChunkStore(directory: Self.directory(state).appendingPathComponent("shards"))
            Self.report(try Self.collectGarbage(state: state, shards: shards, store: context.store, force: true, dialFrom: self.dialFrom),
                        of: object.key, context: context)
        }
    }

    func reconcileBlocking(_ object: StoredObject, context: ReconcileContext) throws -> ReconcileResult {
        let spec = MirrorSpec(object.spec)
        let generation = object.generation
        let state = context.stateDirectory
        let shards = try ChunkStore(directory: Self.directory(state).appendingPathComponent("shards"))
        let manifestURL = Self.manifestPath(state, name: object.key.name)
        let previous = try? MirrorManifest.decode([UInt8](Data(contentsOf: manifestURL)), source: manifestURL.path)

        // The peers first: new stripes go out to those answering while the rest of the source is read.
        let (peers, unknown) = try Self.peers(for: object.spec, stateDirectory: state, store: context.store, dialFrom: self.dialFrom)
        defer { for peer in peers { peer.close() } }
        let answering = zip(peers, concurrentMap(peers.count) { peers[$0].isAlive() }).filter(\.1).map(\.0)
        let placer = ShardPlacer(peers: answering, shards: shards)
        let manifest: MirrorManifest
        let settling: Bool
        let outcome = Result {
            try self.currentVersion(object, spec: spec, previous: previous, shards: shards, context: context, onStripe: placer.place)
        }
        let streamed = placer.finish()
        for (peer, error) in streamed.failed {
            context.logger.warning("Mirror peer failed while shards were sent", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
        switch try outcome.get() {
        case .failed(let result): return result
        case .version(let current, let writing): (manifest, settling) = (current, writing)
        }
        // What each allowed peer holds, asked of all at once.
        let allShards = manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:))
        var held = Self.holdings(of: peers, ids: allShards)
        for peer in peers where held[peer.name] == nil {
            context.logger.warning("Mirror peer unreachable", metadata: ["peer": "\(peer.name)", "address": "\(peer.address)"])
        }
        let reachable = peers.filter { held[$0.name] != nil }
        let local = shards.holdings(allShards) ?? []

        // A loss noticed: said before the repair, so the event log shows what was lost and what was done.
        let before = Self.health(manifest, spec: spec, local: local, held: held)
        let wasUnderReplicated = object.status?.condition(Condition.ready)?.reason == "UnderReplicated"
        if before.underReplicated > 0 && !wasUnderReplicated && previous != nil && manifest.version == previous?.version && !reachable.isEmpty {
            context.events.record(object.key, .warning, reason: "UnderReplicated",
                                  message: "\(before.underReplicated) of \(manifest.stripes.count) stripes under-replicated "
                                    + "(\(reachable.count) of \(spec.allowedPeerCount) peers reachable); repairing")
        }
        let (rebuiltNow, lost) = try self.repairLocal(manifest, local: local, peers: reachable, shards: shards)
        if rebuiltNow > 0 {
            context.events.record(object.key, .normal, reason: "ShardsRebuilt",
                                  message: "\(rebuiltNow) shards missing or corrupt on this node rebuilt from their stripes")
        }
        let placedNow = streamed.placed.values.reduce(0) { $0 + $1.count }
            + (reachable.isEmpty ? 0 : try self.place(manifest, on: reachable, held: &held, shards: shards, logger: context.logger))
        if placedNow > 0 {
            context.events.record(object.key, .normal, reason: "ShardsPlaced", message: "\(placedNow) shards placed on \(reachable.count) peers")
        }
        let health = Self.health(manifest, spec: spec, local: shards.holdings(allShards) ?? [], held: held)
        // After placement, and only once this policy is fully replicated: a peer that left the placement gives
        // up its copies when the peers now allowed hold enough of their own.
        Self.report(try Self.collectGarbage(state: state, shards: shards, store: context.store,
                                            settled: [object.key.name: health.underReplicated == 0 && lost.isEmpty],
                                            dialFrom: self.dialFrom),
                    of: object.key, context: context)

        var placement = Dictionary(uniqueKeysWithValues: held.map { ($0.key, JSONValue.integer(Int64($0.value.count))) })
        placement["local"] = .integer(Int64(local.count))
        let fields: [String: JSONValue] = [
            "version": .string(manifest.version), "files": .integer(Int64(manifest.files.count)),
            "chunks": .integer(Int64(manifest.chunkCount)), "bytes": .integer(Int64(manifest.byteCount)),
            "stripes": .integer(Int64(manifest.stripes.count)), "shards": .integer(Int64(manifest.shardCount)),
            "shardsPlaced": .object(placement), "underReplicated": .integer(Int64(health.underReplicated)),
            "unreachablePeers": .array(unknown.map { .string($0) } + peers.filter { held[$0.name] == nil }.map { .string($0.name) }),
            "manifest": .string(try manifest.id.description),
        ]
        let recheck = settling ? .seconds(2) : min(spec.repairInterval, Self.peerCheckInterval)
        if !lost.isEmpty {
            let message = "\(lost.count) stripes have fewer than \(spec.data) shards on this node and the reachable peers: "
                + "they cannot be rebuilt until a peer holding them returns (first: stripe \(lost[0]))"
            context.events.record(object.key, .warning, reason: "StripesUnrecoverable", message: message)
            return ReconcileResult(status: Self.status(ready: false, "StripesUnrecoverable", message, generation: generation,
                                                       fields: fields.merging(["unrecoverable": .integer(Int64(lost.count))]) { $1 }),
                                   requeueAfter: .seconds(10))
        }
        if spec.privacy == "private" || spec.allowedPeerCount == 0 {
            return ReconcileResult(status: Self.status(ready: true, "LocalOnly",
                                                       "\(manifest.files.count) files kept as \(manifest.shardCount) shards on this node only",
                                                       degradedMessage: "no peers allowed", generation: generation, fields: fields),
                                   requeueAfter: spec.repairInterval)
        }
        if health.underReplicated > 0 {
            let message = health.tooFewShards > 0
                ? "\(health.tooFewShards) of \(manifest.stripes.count) stripes have fewer than \(spec.data + 1) shards on the "
                    + "\(reachable.count) reachable peers (of \(spec.allowedPeerCount))"
                : "\(health.underReplicated) of \(manifest.stripes.count) stripes are on fewer than minCopies \(health.targets) targets: "
                    + "this node and \(reachable.count) of \(spec.allowedPeerCount) peers reachable"
            return ReconcileResult(status: Self.status(ready: false, "UnderReplicated", message, generation: generation, fields: fields),
                                   requeueAfter: min(recheck, .seconds(10)))
        }
        return ReconcileResult(status: Self.status(ready: true, "Replicated",
                                                   "\(manifest.stripes.count) stripes on this node and \(reachable.count) peers",
                                                   degradedMessage: "", generation: generation, fields: fields),
                               requeueAfter: recheck)
    }

    static func failing(_ reason: String, _ message: String, generation: Int64, requeue: TimeSpan) -> ReconcileResult {
        ReconcileResult(status: Self.status(ready: false, reason, message, generation: generation), requeueAfter: requeue)
    }

    /// Ready and Degraded, which always say opposite things here, with one reason; a ready policy's Degraded
    /// condition carries `degradedMessage`, a failing one's the same message as Ready.
    static func status(ready: Bool, _ reason: String, _ message: String, degradedMessage: String? = nil, generation: Int64,
                       fields: [String: JSONValue] = [:]) -> ObjectStatus {
        var status = ObjectStatus.ready(ready ? .true : .false, reason: reason, message: message, generation: generation,
                                        fields: fields)
        status.setCondition(Condition(type: Condition.degraded, status: ready ? .false : .true, reason: reason,
                                      message: degradedMessage ?? message, observedGeneration: generation))
        return status
    }
}
