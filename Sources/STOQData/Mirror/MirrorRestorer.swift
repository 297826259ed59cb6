import Foundation
import HyperMeshCore

/// Where a restore finds shards: the local shard store, peers over STOQ, or both.
public protocol ShardSource {
    /// The shard's bytes if this source has it (verified against `id`), `nil` if not.
    func shard(_ id: ContentID) throws -> [UInt8]?
}

extension ChunkStore: ShardSource {
    public func shard(_ id: ContentID) throws -> [UInt8]? {
        guard self.contains(id) else { return nil }
        do {
            return try self.get(id)
        } catch let error as HyperMeshError where error.code == .corruptData {
            return nil  // quarantined; another source or parity rebuilds it
        }
    }
}

/// Rebuilds a mirrored version byte-identical from shards alone: each stripe from any `data` of its
/// shards (first from the sources in order, then parity), each chunk checked against its id, each file
/// written to a temporary name and renamed when complete.
public struct MirrorRestorer {
    public let manifest: MirrorManifest
    public let sources: [any ShardSource]

    public init(manifest: MirrorManifest, sources: [any ShardSource]) {
        self.manifest = manifest
        self.sources = sources
    }

    /// How a restore went.
    public struct Outcome: Sendable {
        public var files = 0
        public var bytes = 0
        /// Shards that were missing or corrupt and were rebuilt from the others.
        public var shardsRebuilt = 0
    }

    /// The chunks of every stripe, by id; throws for the first stripe with fewer than `data` shards.
    public func chunks(progress: ((Int, Int) -> Void)? = nil) throws -> (chunks: [String: [UInt8]], rebuilt: Int) {
        let code = try ReedSolomon(dataShards: self.manifest.data, parityShards: self.manifest.parity)
        var chunks: [String: [UInt8]] = [:]
        var rebuilt = 0
        for (index, stripe) in self.manifest.stripes.enumerated() {
            var shards: [[UInt8]?] = []
            var found = 0
            for hex in stripe.shards {
                // Stop fetching once enough shards are in hand.
                guard found < self.manifest.data, let id = ContentID(hex: hex) else {
                    shards.append(nil)
                    continue
                }
                // A source that fails (a peer gone, a corrupt copy) is one that does not have the shard.
                let bytes = self.sources.lazy.compactMap { source in (try? source.shard(id)) ?? nil }.first
                if bytes != nil { found += 1 }
                shards.append(bytes)
            }
            guard found >= self.manifest.data else {
                throw HyperMeshError.notFound("stripe \(index): only \(found) of \(stripe.shards.count) shards reachable, "
                    + "\(self.manifest.data) needed; the version cannot be restored")
            }
            rebuilt += shards.prefix(self.manifest.data).filter { $0 == nil }.count
            let bytes = try code.decodeStripe(shards, length: stripe.length)
            var offset = 0
            for (hex, size) in zip(stripe.chunks, stripe.sizes) {
                let chunk = Array(bytes[offset..<(offset + size)])
                guard ContentID(of: chunk).description == hex else {
                    throw HyperMeshError.corruptData("stripe \(index): chunk \(hex.prefix(12))… does not match its id after decoding")
                }
                chunks[hex] = chunk
                offset += size
            }
            progress?(index + 1, self.manifest.stripes.count)
        }
        return (chunks, rebuilt)
    }

    /// Writes every file under `directory` (created if needed); a source that was a single file is
    /// written as `directory/name`.
    public func restore(to directory: String, singleFileName: String = "restored",
                        progress: ((Int, Int) -> Void)? = nil) throws -> Outcome {
        let (chunks, rebuilt) = try self.chunks(progress: progress)
        var outcome = Outcome(shardsRebuilt: rebuilt)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for file in self.manifest.files {
            let relative = file.path.isEmpty ? singleFileName : file.path
            let target = URL(fileURLWithPath: directory).appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(file.sizes.reduce(0, +))
            for hex in file.chunks {
                guard let chunk = chunks[hex] else {
                    throw HyperMeshError.corruptData("file \(relative) names chunk \(hex.prefix(12))…, which no stripe holds")
                }
                bytes += chunk
            }
            let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).restoring")
            do {
                try Data(bytes).write(to: temporary)
                guard rename(temporary.path, target.path) == 0 else { throw HyperMeshError.io(String(cString: strerror(errno))) }
            } catch {
                try? FileManager.default.removeItem(at: temporary)
                throw HyperMeshError.io("cannot write \(target.path)", cause: error)
            }
            outcome.files += 1
            outcome.bytes += bytes.count
        }
        return outcome
    }
}
