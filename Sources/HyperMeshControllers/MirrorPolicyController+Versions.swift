import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import STOQData

/// Versions: encoding the source, keeping the manifests of the kept versions, collecting what none uses.
extension MirrorPolicyController {
    enum VersionOutcome {
        /// The version to place; `writing` when the source is being written and this is the last version.
        case version(MirrorManifest, writing: Bool)
        case failed(ReconcileResult)
    }

    /// The version to place: from the source when it is there (encoded incrementally over `previous`); the
    /// last one when the source is gone or a file of it is being written (read again shortly).
    func currentVersion(_ object: StoredObject, spec: MirrorSpec, previous: MirrorManifest?, shards: ChunkStore,
                        context: ReconcileContext, onStripe: ((Int, MirrorManifest.Stripe) -> Void)? = nil) throws -> VersionOutcome {
        let generation = object.generation
        let name = object.key.name
        let state = context.stateDirectory
        if FileManager.default.fileExists(atPath: spec.source) {
            do {
                let encoded = try StripeEncoder(code: ReedSolomon(dataShards: spec.data, parityShards: spec.parity), chunker: spec.chunker())
                    .encode(source: spec.source, previous: previous, index: SourceIndex.load(from: Self.indexPath(state, name: name)),
                            shards: shards, onStripe: onStripe)
                let manifest = encoded.manifest
                if manifest != previous {
                    try self.keep(manifest, replacing: previous, name: name, state: state, keepVersions: spec.keepVersions)
                    if manifest.version != previous?.version {
                        context.events.record(object.key, .normal, reason: "VersionEncoded", message: "version \(manifest.version.prefix(12))…: "
                            + "\(manifest.files.count) files (\(encoded.filesRead) read), \(manifest.chunkCount) chunks, "
                            + "\(encoded.newStripes) new of \(manifest.stripes.count) stripes of \(spec.data)+\(spec.parity)")
                    }
                }
                try encoded.index.save(to: Self.indexPath(state, name: name))
                return .version(manifest, writing: false)
            } catch let error as HyperMeshError where error.code == .conflict {
                guard let previous else {
                    return .failed(Self.failing("SourceChanging", error.message, generation: generation, requeue: .seconds(2)))
                }
                context.logger.info("Mirror source is being written; keeping the last version", metadata: ["error": "\(error.message)"])
                return .version(previous, writing: true)
            } catch let error as HyperMeshError where error.code == .io {
                return .failed(Self.failing("SourceUnreadable", error.message, generation: generation, requeue: .minutes(1)))
            }
        }
        if let previous { return .version(previous, writing: false) }
        return .failed(Self.failing("SourceMissing", "source \(spec.source) does not exist and nothing was mirrored yet",
                                    generation: generation, requeue: .minutes(1)))
    }

    /// Makes `manifest` the current one; the one it replaces joins the history, and the oldest beyond
    /// `keepVersions` leave it.
    func keep(_ manifest: MirrorManifest, replacing previous: MirrorManifest?, name: String, state: URL, keepVersions: Int) throws {
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
    /// are older than ``garbageGrace`` — so the shards of an encode still writing its manifest are safe — and
    /// gives up this node's hold on the copies of such shards on `peers` (``PeerShardCollector``) when this
    /// node deleted some of its own or `peersDue`. Nothing is deleted or given up when a manifest cannot be read.
    static func collectGarbage(state: URL, shards: ChunkStore, peers: [ShardPeer] = [], peersDue: Bool = true,
                               now: Date = Date()) throws -> (collected: Int, released: [PeerShardCollector.Outcome]) {
        guard let live = Self.liveShards(state: state) else { return (0, []) }
        let collected = try shards.sweep(keeping: live, grace: Self.garbageGrace, now: now).count
        guard collected > 0 || peersDue else { return (collected, []) }
        return (collected, PeerShardCollector.collect(peers: peers, live: live, shards: shards, grace: Self.garbageGrace, now: now))
    }

    /// The shards of every kept manifest of every policy; `nil` when one cannot be read.
    static func liveShards(state: URL) -> Set<ContentID>? {
        let manifests = Self.directory(state).appendingPathComponent("manifests")
        let names = FileManager.default.enumerator(atPath: manifests.path)?.allObjects as? [String] ?? []
        var live = Set<ContentID>()
        for relative in names where relative.hasSuffix(".json") && !relative.hasSuffix(".index.json") {
            let path = manifests.appendingPathComponent(relative).path
            guard let data = FileManager.default.contents(atPath: path),
                  let manifest = try? MirrorManifest.decode([UInt8](data), source: path) else { return nil }
            live.formUnion(manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:)))
        }
        return live
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
                                  message: "\(released) shards no kept version uses were given up on peers (\(peers.joined(separator: ", ")))")
        }
        for outcome in garbage.released {
            if let error = outcome.error {
                context.logger.warning("Could not collect unused shards on a mirror peer", metadata: ["peer": "\(outcome.peer)", "error": "\(error)"])
            }
        }
    }
}
