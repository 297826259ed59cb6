import Foundation
import HyperMeshCore

/// Everything needed to rebuild one version of a mirrored source from its shards alone: the files (path,
/// chunk ids and sizes), the erasure code, and the stripes — each stripe the concatenation of up to
/// `data` distinct chunks, cut into `data` equal shards plus `parity` parity shards, every shard
/// content-addressed.
///
/// Stored and sent as canonical JSON (sorted keys); its id is the SHA-256 of those bytes.
public struct MirrorManifest: Sendable, Hashable, Codable {
    public struct File: Sendable, Hashable, Codable {
        public var path: String
        /// Chunk ids (hex) in order, with their sizes.
        public var chunks: [String]
        public var sizes: [Int]

        public init(path: String, chunks: [String], sizes: [Int]) {
            self.path = path
            self.chunks = chunks
            self.sizes = sizes
        }
    }

    public struct Stripe: Sendable, Hashable, Codable {
        /// Chunk ids (hex) in the stripe, in order; their bytes are concatenated.
        public var chunks: [String]
        public var sizes: [Int]
        /// Shard ids (hex): `data` data shards, then `parity` parity shards.
        public var shards: [String]

        public init(chunks: [String], sizes: [Int], shards: [String]) {
            self.chunks = chunks
            self.sizes = sizes
            self.shards = shards
        }

        /// The stripe's length before padding.
        public var length: Int { self.sizes.reduce(0, +) }
    }

    public static let format = "hypermesh-mirror-v1"
    public var format = Self.format
    /// The source version's root id (``SourceVersion/root``).
    public var version: String
    public var data: Int
    public var parity: Int
    public var files: [File]
    public var stripes: [Stripe]

    public init(version: String, data: Int, parity: Int, files: [File], stripes: [Stripe]) {
        self.version = version
        self.data = data
        self.parity = parity
        self.files = files
        self.stripes = stripes
    }

    public var chunkCount: Int { self.stripes.reduce(0) { $0 + $1.chunks.count } }
    public var byteCount: Int { self.files.reduce(0) { $0 + $1.sizes.reduce(0, +) } }
    public var shardCount: Int { self.stripes.reduce(0) { $0 + $1.shards.count } }

    /// The canonical bytes.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }

    public var id: ContentID {
        get throws { ContentID(of: try self.encoded()) }
    }

    /// Decodes and checks a manifest: the format, the erasure code, and that every list agrees with
    /// itself (a manifest is read from disk or from peers, so it is not trusted).
    public static func decode(_ bytes: [UInt8], source: String) throws -> MirrorManifest {
        let manifest: MirrorManifest
        do {
            manifest = try JSONDecoder().decode(MirrorManifest.self, from: Data(bytes))
        } catch {
            throw HyperMeshError.corruptData("\(source): not a mirror manifest (\(error))")
        }
        guard manifest.format == Self.format else {
            throw HyperMeshError.corruptData("\(source): manifest format \(manifest.format), this build reads \(Self.format)")
        }
        guard (1...128).contains(manifest.data), (0...127).contains(manifest.parity), manifest.data + manifest.parity <= 255 else {
            throw HyperMeshError.corruptData("\(source): erasure code \(manifest.data)+\(manifest.parity) is out of range")
        }
        for (index, file) in manifest.files.enumerated() where file.chunks.count != file.sizes.count
            || file.path.split(separator: "/").contains("..") || file.path.hasPrefix("/") {
            throw HyperMeshError.corruptData("\(source): files[\(index)] (\(file.path)) is malformed or escapes the target")
        }
        for (index, stripe) in manifest.stripes.enumerated()
        where stripe.chunks.count != stripe.sizes.count || stripe.shards.count != manifest.data + manifest.parity
            || stripe.chunks.isEmpty || stripe.chunks.count > manifest.data {
            throw HyperMeshError.corruptData("\(source): stripes[\(index)] does not match the \(manifest.data)+\(manifest.parity) code")
        }
        return manifest
    }
}
