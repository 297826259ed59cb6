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
/// stay restorable in `NAME.history/`, and shards no kept version uses are collected after a grace period.
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
    public init() {}

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
        // Chunking, coding and transfers block: they run on a thread of their own, not the reconciler's.
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try self.reconcileBlocking(object, context: context) })
            }.start()
        }
    }

    func reconcileBlocking(_ object: StoredObject, context: ReconcileContext) throws -> ReconcileResult {
        let spec = MirrorSpec(object.spec)
        let generation = object.generation
        let name = object.key.name
        let state = context.stateDirectory
        let shards = try ChunkStore(directory: Self.directory(state).appendingPathComponent("shards"))
        let manifestURL = Self.manifestPath(state, name: name)
        let previous = try? MirrorManifest.decode([UInt8](Data(contentsOf: manifestURL)), source: manifestURL.path)

        // The version: from the source when it is there; from the last manifest when the source is gone, or
        // while a file of it is being written (it is read again shortly).
        var manifest: MirrorManifest
        var settling = false
        if FileManager.default.fileExists(atPath: spec.source) {
            do {
                let encoded = try StripeEncoder(code: ReedSolomon(dataShards: spec.data, parityShards: spec.parity), chunker: spec.chunker())
                    .encode(source: spec.source, previous: previous, index: SourceIndex.load(from: Self.indexPath(state, name: name)),
                            shards: shards)
                manifest = encoded.manifest
                if manifest != previous {
                    try self.keep(manifest, replacing: previous, name: name, state: state, keepVersions: spec.keepVersions)
                    if manifest.version != previous?.version {
                        context.events.record(object.key, .normal, reason: "VersionEncoded", message: "version \(manifest.version.prefix(12))…: "
                            + "\(manifest.files.count) files (\(encoded.filesRead) read), \(manifest.chunkCount) chunks, "
                            + "\(encoded.newStripes) new of \(manifest.stripes.count) stripes of \(spec.data)+\(spec.parity)")
                    }
                }
                try encoded.index.save(to: Self.indexPath(state, name: name))
            } catch let error as HyperMeshError where error.code == .conflict {
                guard let previous else {
                    return Self.failing("SourceChanging", error.message, generation: generation, requeue: .seconds(2))
                }
                context.logger.info("Mirror source is being written; keeping the last version", metadata: ["error": "\(error.message)"])
                manifest = previous
                settling = true
            } catch let error as HyperMeshError where error.code == .io {
                return Self.failing("SourceUnreadable", error.message, generation: generation, requeue: .minutes(1))
            }
        } else if let previous {
            manifest = previous
        } else {
            return Self.failing("SourceMissing", "source \(spec.source) does not exist and nothing was mirrored yet",
                                generation: generation, requeue: .minutes(1))
        }
        let collected = try Self.collectGarbage(state: state, shards: shards)
        if collected > 0 {
            context.events.record(object.key, .normal, reason: "ShardsCollected", message: "\(collected) shards no kept version uses were deleted")
        }

        // What each allowed peer holds, asked of all at once.
        let (peers, unknown) = try Self.peers(for: object.spec, stateDirectory: state, store: context.store)
        defer { for peer in peers { peer.close() } }
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
        let placedNow = reachable.isEmpty ? 0 : try self.place(manifest, on: reachable, held: &held, shards: shards, logger: context.logger)
        if placedNow > 0 {
            context.events.record(object.key, .normal, reason: "ShardsPlaced", message: "\(placedNow) shards placed on \(reachable.count) peers")
        }
        let health = Self.health(manifest, spec: spec, local: shards.holdings(allShards) ?? [], held: held)

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

    /// Makes `manifest` the current one; the one it replaces joins the history, and the oldest beyond
    /// `keepVersions` leave it.
    private func keep(_ manifest: MirrorManifest, replacing previous: MirrorManifest?, name: String, state: URL,
                      keepVersions: Int) throws {
        let history = Self.historyDirectory(state, name: name)
        try FileManager.default.createDirectory(at: history, withIntermediateDirectories: true)
        try Data(try manifest.encoded()).write(to: Self.manifestPath(state, name: name), options: .atomic)
        if let previous, previous.version != manifest.version {
            try Data(try previous.encoded()).write(to: history.appendingPathComponent("\(previous.version).json"), options: .atomic)
        }
        try? FileManager.default.removeItem(at: history.appendingPathComponent("\(manifest.version).json"))
        let entries = (try? FileManager.default.contentsOfDirectory(at: history, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        let dated = entries.filter { $0.pathExtension == "json" }.map { url in
            (url, (try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast)
        }.sorted { $0.1 > $1.1 }
        for (url, _) in dated.dropFirst(max(keepVersions - 1, 0)) { try? FileManager.default.removeItem(at: url) }
    }

    /// Deletes the shards that no kept manifest of any policy uses (mark and sweep, as `git gc`), once they
    /// are older than ``garbageGrace`` — so the shards of an encode still writing its manifest are safe.
    /// Nothing is deleted when a manifest cannot be read.
    static func collectGarbage(state: URL, shards: ChunkStore) throws -> Int {
        let manifests = Self.directory(state).appendingPathComponent("manifests")
        guard let names = FileManager.default.enumerator(atPath: manifests.path)?.allObjects as? [String] else { return 0 }
        var live = Set<ContentID>()
        for relative in names where relative.hasSuffix(".json") && !relative.hasSuffix(".index.json") {
            let path = manifests.appendingPathComponent(relative).path
            guard let data = FileManager.default.contents(atPath: path),
                  let manifest = try? MirrorManifest.decode([UInt8](data), source: path) else { return 0 }
            live.formUnion(manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:)))
        }
        return try shards.sweep(keeping: live, grace: Self.garbageGrace).count
    }

    /// Rebuilds the shards this node should hold and does not (deleted, or quarantined as corrupt) from the
    /// rest of their stripes, here and on the peers. Returns how many were rebuilt and the stripes that cannot
    /// be (fewer than `data` shards anywhere reachable).
    private func repairLocal(_ manifest: MirrorManifest, local: Set<ContentID>, peers: [ShardPeer],
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

    /// Puts every shard a peer should hold and does not: shard j of stripe i goes to peer (i + j) mod n, all
    /// peers at once, each shard sent from its file here. A peer refusing a shard whose local copy turns out
    /// corrupt is not an error: the copy is quarantined and rebuilt at the next reconcile. Returns the shards
    /// placed.
    private func place(_ manifest: MirrorManifest, on peers: [ShardPeer], held: inout [String: Set<ContentID>],
                       shards: ChunkStore, logger: Logger) throws -> Int {
        var outgoing = [[(id: ContentID, contents: STOQRequest.BlobContents)]](repeating: [], count: peers.count)
        for (index, stripe) in manifest.stripes.enumerated() {
            for (position, hex) in stripe.shards.enumerated() {
                guard let id = ContentID(hex: hex), shards.contains(id), !held.values.contains(where: { $0.contains(id) }) else { continue }
                outgoing[(index + position) % peers.count].append((id, .file(path: shards.path(of: id).path)))
            }
        }
        let failures = concurrentMap(peers.count) { target -> (any Error)? in
            do { try peers[target].put(contents: outgoing[target]) } catch { return error }
            return nil
        }
        var placed = 0
        for (target, failure) in failures.enumerated() {
            if let failure {
                let corrupt = outgoing[target].filter { entry in
                    do { _ = try shards.get(entry.id) } catch let error as HyperMeshError where error.code == .corruptData { return true } catch {}
                    return false
                }
                guard !corrupt.isEmpty else { throw failure }
                logger.warning("Corrupt local shards quarantined; they are rebuilt next", metadata: ["count": "\(corrupt.count)"])
                continue
            }
            held[peers[target].name, default: []].formUnion(outgoing[target].map(\.id))
            placed += outgoing[target].count
        }
        return placed
    }

    /// The peers a policy may use (`placement`), reached with the node's STOQ certificate in `STATE/stoq/`,
    /// and the node ids it names that no Mesh gives an address for.
    public static func peers(for specValue: JSONValue, stateDirectory: URL, store: StateStore) throws -> ([ShardPeer], [String]) {
        let spec = MirrorSpec(specValue)
        guard spec.privacy != "private", !spec.peers.isEmpty || spec.openToAnyPeer else { return ([], []) }
        var addresses: [String: String] = [:]
        for mesh in try store.objects(of: .mesh) where mesh.deletionRequestedAt == nil {
            for entry in mesh.spec["validators"]?.arrayValue ?? [] {
                if let id = entry["id"]?.stringValue, let address = entry["address"]?.stringValue { addresses[id] = address }
            }
        }
        let own = try NodeIdentity.loadOrCreate(in: stateDirectory).identity.nodeID
        let wanted = (spec.openToAnyPeer ? Array(addresses.keys) : spec.peers).filter { $0 != own }.sorted()
        let tlsDirectory = stateDirectory.appendingPathComponent("stoq")
        let crl = tlsDirectory.appendingPathComponent("crl.pem").path
        let tls = TLSConfiguration(certificateChainPath: tlsDirectory.appendingPathComponent("chain.pem").path,
                                   privateKeyPath: tlsDirectory.appendingPathComponent("key.pem").path,
                                   trustedRootsPath: tlsDirectory.appendingPathComponent("root.pem").path,
                                   revocationListPath: FileManager.default.fileExists(atPath: crl) ? crl : nil)
        var peers: [ShardPeer] = []
        var unknown: [String] = []
        for id in wanted {
            guard let address = addresses[id], let peer = try? ShardPeer(address: address, nodeID: id, tls: tls) else {
                unknown.append(id)
                continue
            }
            peers.append(peer)
        }
        return (peers, unknown)
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

/// A `MirrorPolicy` spec with its defaults.
struct MirrorSpec {
    var source: String
    var minimumSize = 16 << 10
    var averageSize = 64 << 10
    var maximumSize = 256 << 10
    var data = 10
    var parity = 4
    var minCopies = 1
    var privacy = "private-network"
    var peers: [String] = []
    var repairInterval = TimeSpan.minutes(10)
    var keepVersions = 3

    init(_ spec: JSONValue) {
        self.source = spec["source"]?.stringValue ?? ""
        func bytes(_ path: String) -> Int? {
            spec.value(atPath: path)?.stringValue.flatMap { try? Quantity(parsing: $0) }.map { Int($0.wholeValue) }
                ?? spec.value(atPath: path)?.integerValue.map { Int($0) }
        }
        self.minimumSize = bytes("chunking.minSize") ?? self.minimumSize
        self.averageSize = bytes("chunking.avgSize") ?? self.averageSize
        self.maximumSize = bytes("chunking.maxSize") ?? self.maximumSize
        self.data = spec.value(atPath: "erasure.data")?.integerValue.map { Int($0) } ?? self.data
        self.parity = spec.value(atPath: "erasure.parity")?.integerValue.map { Int($0) } ?? self.parity
        self.minCopies = spec.value(atPath: "placement.minCopies")?.integerValue.map { Int($0) } ?? self.minCopies
        self.privacy = spec.value(atPath: "placement.privacy")?.stringValue ?? self.privacy
        self.peers = spec.value(atPath: "placement.peers")?.arrayValue?.compactMap(\.stringValue) ?? []
        self.keepVersions = spec["keepVersions"]?.integerValue.map { Int($0) } ?? self.keepVersions
        if let text = spec["repairInterval"]?.stringValue, let span = try? TimeSpan(parsing: text) { self.repairInterval = span }
    }

    var openToAnyPeer: Bool { self.privacy == "public-network" || self.privacy == "full-public" }
    var allowedPeerCount: Int { self.privacy == "private" ? 0 : self.peers.count }

    func chunker() throws -> FastCDC {
        try FastCDC(minimumSize: self.minimumSize, averageSize: self.averageSize, maximumSize: self.maximumSize)
    }
}
