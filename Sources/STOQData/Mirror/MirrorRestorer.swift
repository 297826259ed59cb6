import Foundation
import HyperMeshCore

/// Where a restore finds shards: the local shard store, peers over STOQ, or both.
public protocol ShardSource {
    /// The shard's bytes if this source has it (verified against `id`), `nil` if not.
    func shard(_ id: ContentID) throws -> [UInt8]?
    /// The shards of `ids` this source has (verified); a source that cannot be reached has none.
    func shards(_ ids: [ContentID]) -> [ContentID: [UInt8]]
}

extension ShardSource {
    public func shards(_ ids: [ContentID]) -> [ContentID: [UInt8]] {
        var found: [ContentID: [UInt8]] = [:]
        for id in ids {
            if let bytes = (try? self.shard(id)) ?? nil { found[id] = bytes }
        }
        return found
    }
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

    /// Stripes fetched together: one round of requests to each source serves this many.
    static let stripesPerRound = 16

    /// The chunks of every stripe, by id; throws for the first stripe with fewer than `data` shards.
    ///
    /// Stripes are fetched in rounds: each source is asked at once for the data shards still missing
    /// in the round, then, for stripes still short, for their parity shards.
    public func chunks(progress: ((Int, Int) -> Void)? = nil) throws -> (chunks: [String: [UInt8]], rebuilt: Int) {
        let code = try ReedSolomon(dataShards: self.manifest.data, parityShards: self.manifest.parity)
        var chunks: [String: [UInt8]] = [:]
        var rebuilt = 0
        let stripes = self.manifest.stripes
        for roundStart in stride(from: 0, to: stripes.count, by: Self.stripesPerRound) {
            let round = Array(roundStart..<min(roundStart + Self.stripesPerRound, stripes.count))
            let ids = round.map { stripes[$0].shards.map { ContentID(hex: $0) } }
            var found: [ContentID: [UInt8]] = [:]
            func short(_ position: Int) -> Bool { ids[position].compactMap { $0 }.filter { found[$0] != nil }.count < self.manifest.data }
            for part in [0..<self.manifest.data, self.manifest.data..<(self.manifest.data + self.manifest.parity)] {
                for source in self.sources {
                    let wanted = round.indices.filter(short).flatMap { position in
                        ids[position][part].compactMap { $0 }.filter { found[$0] == nil }
                    }
                    guard !wanted.isEmpty else { break }
                    found.merge(source.shards(wanted)) { first, _ in first }
                }
            }
            for (position, index) in round.enumerated() {
                let stripe = stripes[index]
                let shards = ids[position].map { $0.flatMap { found[$0] } }
                let present = shards.compactMap { $0 }.count
                guard present >= self.manifest.data else {
                    throw HyperMeshError.notFound("stripe \(index): only \(present) of \(stripe.shards.count) shards reachable, "
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
                progress?(index + 1, stripes.count)
            }
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
