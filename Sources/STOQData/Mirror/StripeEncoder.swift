import Foundation
import HyperMeshCore

/// Turns a scanned source version into stripes of erasure-coded shards: distinct chunks, in the order
/// the files first use them, `data` per stripe; each stripe's shards go into `shards`.
public struct StripeEncoder: Sendable {
    public let code: ReedSolomon

    public init(code: ReedSolomon) {
        self.code = code
    }

    /// Encodes `version` (whose chunks are in `chunks`) and stores every shard in `shards`; returns the
    /// manifest. Only stripes whose shards `shards` lacks are written again.
    public func encode(_ version: SourceVersion, chunks: ChunkStore, shards: ChunkStore) throws -> MirrorManifest {
        var order: [ContentID] = []
        var sizes: [ContentID: Int] = [:]
        for file in version.files {
            for chunk in file.manifest.chunks where sizes[chunk.id] == nil {
                sizes[chunk.id] = chunk.size
                order.append(chunk.id)
            }
        }
        var stripes: [MirrorManifest.Stripe] = []
        for start in stride(from: 0, to: order.count, by: self.code.dataShards) {
            let members = Array(order[start..<min(start + self.code.dataShards, order.count)])
            var bytes: [UInt8] = []
            for id in members { bytes += try chunks.get(id) }
            let encoded = self.code.encodeStripe(bytes)
            let ids = try encoded.map { try shards.put($0) }
            stripes.append(MirrorManifest.Stripe(chunks: members.map(\.description), sizes: members.map { sizes[$0]! },
                                                 shards: ids.map(\.description)))
        }
        let files = version.files.map { file in
            MirrorManifest.File(path: file.path, chunks: file.manifest.chunks.map(\.id.description),
                                sizes: file.manifest.chunks.map(\.size))
        }
        return MirrorManifest(version: version.root.description, data: self.code.dataShards, parity: self.code.parityShards,
                              files: files, stripes: stripes)
    }
}
