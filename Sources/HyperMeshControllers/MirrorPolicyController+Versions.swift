import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import STOQData

/// Versions: encoding the source, keeping the manifests of the kept versions.
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
}
