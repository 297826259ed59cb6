import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import STOQ
import STOQData

/// Reconciles `MirrorPolicy`: chunks the source (FastCDC), erasure-codes its distinct chunks into stripes
/// of shards (ISA-L Reed–Solomon), keeps every shard in the local shard store (`STATE/mirror/shards`) and
/// places them round-robin on the peers the policy allows, over STOQ; then reports the version, its size,
/// the shards each peer holds, and the stripes that could not survive losing this node.
///
/// A stripe is *under-replicated* when the reachable peers hold fewer than `data` + 1 of its shards (at
/// least `data` are needed to rebuild it; one more survives a further loss), or when they span fewer than
/// `placement.minCopies` distinct peers. Then the policy is `Degraded` (`UnderReplicated`); each reconcile
/// (every `repairInterval`, default 10m, and at once after a failure) places what is missing on the
/// peers that are reachable now — rebuilding a shard from parity when the local copy is gone.
///
/// Peers: `placement.peers` lists node ids; their addresses come from the stored `Mesh` objects'
/// `validators`. `privacy: private` places nothing on peers; `public-network` and `full-public` may use any
/// peer a Mesh lists; the other levels only the listed ones. STOQ uses the node's certificate in
/// `STATE/stoq/` (`chain.pem`, `key.pem`, `root.pem`, optional `crl.pem`).
public struct MirrorPolicyController: Controller {
    public init() {}

    public var kind: Kind { .mirrorPolicy }

    /// Where mirror state lives under the state directory.
    public static func directory(_ state: URL) -> URL { state.appendingPathComponent("mirror") }
    public static func manifestPath(_ state: URL, name: String) -> URL {
        Self.directory(state).appendingPathComponent("manifests/\(name).json")
    }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let spec = MirrorSpec(object.spec)
        let generation = object.generation
        let base = Self.directory(context.stateDirectory)
        let chunks = try ChunkStore(directory: base.appendingPathComponent("chunks"))
        let shards = try ChunkStore(directory: base.appendingPathComponent("shards"))
        let manifestURL = Self.manifestPath(context.stateDirectory, name: object.key.name)

        // The version: from the source when it is there; from the last manifest when the source is gone.
        var manifest: MirrorManifest
        if FileManager.default.fileExists(atPath: spec.source) {
            let version: SourceVersion
            do {
                version = try SourceVersion.scan(spec.source, chunker: spec.chunker(), store: chunks)
            } catch let error as HyperMeshError {
                return Self.failing("SourceUnreadable", error.message, generation: generation, requeue: .minutes(1))
            }
            let previous = try? MirrorManifest.decode([UInt8](Data(contentsOf: manifestURL)), source: manifestURL.path)
            if let previous, previous.version == version.root.description, previous.data == spec.data, previous.parity == spec.parity {
                manifest = previous
            } else {
                manifest = try StripeEncoder(code: ReedSolomon(dataShards: spec.data, parityShards: spec.parity))
                    .encode(version, chunks: chunks, shards: shards)
                try FileManager.default.createDirectory(at: manifestURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(try manifest.encoded()).write(to: manifestURL, options: .atomic)
                context.events.record(object.key, .normal, reason: "VersionEncoded",
                                      message: "version \(version.root.description.prefix(12))…: \(manifest.files.count) files, "
                                        + "\(manifest.chunkCount) chunks, \(manifest.stripes.count) stripes of \(spec.data)+\(spec.parity)")
            }
        } else if let previous = try? MirrorManifest.decode([UInt8](Data(contentsOf: manifestURL)), source: manifestURL.path) {
            manifest = previous
        } else {
            return Self.failing("SourceMissing", "source \(spec.source) does not exist and nothing was mirrored yet",
                                generation: generation, requeue: .minutes(1))
        }

        // Placement on the peers reachable now.
        let (peers, unreachable) = try Self.peers(for: object.spec, stateDirectory: context.stateDirectory, store: context.store)
        var held: [String: Set<ContentID>] = [:]
        let allShards = manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:))
        for peer in peers {
            do {
                held[peer.name] = try peer.held(allShards)
            } catch {
                context.logger.warning("Mirror peer unreachable", metadata: ["peer": "\(peer.address)", "error": "\(error)"])
            }
        }
        let reachable = peers.filter { held[$0.name] != nil }
        var placedNow = 0
        var lost: [Int] = []
        if !reachable.isEmpty {
            (placedNow, lost) = try self.place(manifest, on: reachable, held: &held, shards: shards)
        }
        if placedNow > 0 {
            context.events.record(object.key, .normal, reason: "ShardsPlaced", message: "\(placedNow) shards placed on \(reachable.count) peers")
        }

        // Health: each stripe must survive losing this node.
        var underReplicated = 0
        var tooFewShards = 0
        let targetHolders = min(spec.minCopies, max(spec.allowedPeerCount, 1))
        for stripe in manifest.stripes {
            let ids = stripe.shards.compactMap(ContentID.init(hex:))
            let holders = held.filter { !$0.value.isDisjoint(with: ids) }
            let reachableShards = Set(ids.filter { id in held.values.contains { $0.contains(id) } }).count
            if reachableShards < spec.data + 1 { tooFewShards += 1 }
            if reachableShards < spec.data + 1 || holders.count < targetHolders { underReplicated += 1 }
        }
        let placement = JSONValue.object(Dictionary(uniqueKeysWithValues: held.map { ($0.key, JSONValue.integer(Int64($0.value.count))) }))
        let fields: [String: JSONValue] = [
            "version": .string(manifest.version), "files": .integer(Int64(manifest.files.count)),
            "chunks": .integer(Int64(manifest.chunkCount)), "bytes": .integer(Int64(manifest.byteCount)),
            "stripes": .integer(Int64(manifest.stripes.count)), "shards": .integer(Int64(manifest.shardCount)),
            "shardsPlaced": placement, "underReplicated": .integer(Int64(underReplicated)),
            "unreachablePeers": .array(unreachable.map { .string($0) } + peers.filter { held[$0.name] == nil }
                .map { .string($0.name) }),
            "manifest": .string(try manifest.id.description),
        ]
        for peer in peers { peer.close() }
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
        if underReplicated > 0 {
            let message = tooFewShards > 0
                ? "\(tooFewShards) of \(manifest.stripes.count) stripes have fewer than \(spec.data + 1) shards on the "
                    + "\(reachable.count) reachable peers (of \(spec.allowedPeerCount))"
                : "\(underReplicated) of \(manifest.stripes.count) stripes span fewer than minCopies \(targetHolders) peers: "
                    + "\(reachable.count) of \(spec.allowedPeerCount) reachable"
            return ReconcileResult(status: Self.status(ready: false, "UnderReplicated", message, generation: generation, fields: fields),
                                   requeueAfter: .seconds(10))
        }
        return ReconcileResult(status: Self.status(ready: true, "Replicated", "\(manifest.stripes.count) stripes on \(reachable.count) peers",
                                                   degradedMessage: "", generation: generation, fields: fields),
                               requeueAfter: spec.repairInterval)
    }

    /// Puts every shard a peer should hold and does not: shard j of stripe i goes to peer (i + j) mod n.
    /// Returns the shards placed and the stripes that could not be rebuilt (fewer than `data` shards left
    /// anywhere reachable).
    private func place(_ manifest: MirrorManifest, on peers: [ShardPeer], held: inout [String: Set<ContentID>],
                       shards: ChunkStore) throws -> (placed: Int, lost: [Int]) {
        var lost: [Int] = []
        var outgoing: [Int: [(id: ContentID, bytes: [UInt8])]] = [:]
        let code = try ReedSolomon(dataShards: manifest.data, parityShards: manifest.parity)
        for (index, stripe) in manifest.stripes.enumerated() {
            let ids = stripe.shards.compactMap(ContentID.init(hex:))
            var rebuilt: [[UInt8]]?
            for (position, id) in ids.enumerated() {
                if held.values.contains(where: { $0.contains(id) }) { continue }
                let target = (index + position) % peers.count
                var bytes = try shards.shard(id)
                if bytes == nil {
                    // The local copy is gone: rebuild the stripe from what this node and the peers hold.
                    if rebuilt == nil {
                        let single = MirrorManifest(version: manifest.version, data: manifest.data, parity: manifest.parity,
                                                    files: [], stripes: [stripe])
                        do {
                            let data = try MirrorRestorer(manifest: single, sources: [shards] + peers).chunks().chunks
                            rebuilt = code.encodeStripe(stripe.chunks.flatMap { data[$0] ?? [] })
                        } catch let error as HyperMeshError where error.code == .notFound {
                            lost.append(index)
                            break
                        }
                    }
                    bytes = rebuilt?[position]
                    if let bytes { try shards.put(bytes) }
                }
                guard let bytes else { continue }
                outgoing[target, default: []].append((id, bytes))
            }
        }
        var placed = 0
        for (target, list) in outgoing.sorted(by: { $0.key < $1.key }) {
            let peer = peers[target]
            try peer.put(list)
            held[peer.name, default: []].formUnion(list.map(\.id))
            placed += list.count
        }
        return (placed, lost)
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
        if let text = spec["repairInterval"]?.stringValue, let span = try? TimeSpan(parsing: text) { self.repairInterval = span }
    }

    var openToAnyPeer: Bool { self.privacy == "public-network" || self.privacy == "full-public" }
    var allowedPeerCount: Int { self.privacy == "private" ? 0 : self.peers.count }

    func chunker() throws -> FastCDC {
        try FastCDC(minimumSize: self.minimumSize, averageSize: self.averageSize, maximumSize: self.maximumSize)
    }
}
