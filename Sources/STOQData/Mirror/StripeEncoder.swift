import Foundation
import HyperMeshCore

/// Turns a source (a file or a directory tree) into stripes of erasure-coded shards, incrementally: the
/// previous version's stripes stay as they are, and only chunks no stripe holds yet go into new stripes —
/// so when the middle of a file changes, only the changed chunks (and their parity) move.
///
/// Files are read as streams, cut with FastCDC and hashed once; a file whose stamp (size, times, inode) matches
/// the last scan is not read at all. New chunks are gathered `data` at a time (in the order files first
/// use them), each group's bytes cut into `data` shards plus `parity` parity shards, and the shards put
/// into `shards`. A stripe no current file uses is dropped; one less than half used is compacted (its live
/// chunks, read back from this node's shards, go into the new stripes).
public struct StripeEncoder: Sendable {
    public let code: ReedSolomon
    public let chunker: FastCDC

    public init(code: ReedSolomon, chunker: FastCDC) {
        self.code = code
        self.chunker = chunker
    }

    /// What an encode produced.
    public struct Result: Sendable {
        public var manifest: MirrorManifest
        /// Stamps for the next scan.
        public var index: SourceIndex
        /// How many stripes this encode made (the last ones of `manifest.stripes`).
        public var newStripes: Int
        /// The previous manifest's stripes that this one no longer has (unused or compacted).
        public var droppedStripes: [MirrorManifest.Stripe]
        /// Files read and chunked; the others were unchanged since the last scan.
        public var filesRead: Int
    }

    /// Encodes `source`, reusing `previous` (when it has the same code) and the stamps of `index`.
    ///
    /// - Throws: ``HyperMeshError`` `io` when the source or a file cannot be read.
    ///
    /// `onStripe` sees each new stripe as soon as its shards are stored (with its number among the new ones),
    /// so they can be sent to peers while the rest of the source is still being read.
    public func encode(source: String, previous: MirrorManifest? = nil, index: SourceIndex? = nil, shards: ChunkStore,
                       now: Date = Date(), onStripe: ((Int, MirrorManifest.Stripe) -> Void)? = nil) throws -> Result {
        let reusable = previous.flatMap { $0.data == self.code.dataShards && $0.parity == self.code.parityShards ? $0 : nil }
        let trusted = index.flatMap { $0.chunker == SourceIndex.describe(self.chunker) ? $0 : nil }
        let previousFiles = Dictionary((reusable?.files ?? []).map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let striped = Set((reusable?.stripes ?? []).flatMap(\.chunks))
        var builder = StripeBuilder(code: self.code, shards: shards, onStripe: onStripe)
        var files: [MirrorManifest.File] = []
        var stamps = SourceIndex(chunker: self.chunker)
        var filesRead = 0
        for relative in try SourceVersion.regularFiles(in: source) {
            let path = relative.isEmpty ? source : source + "/" + relative
            let stamp = SourceIndex.stamp(of: path, scannedAt: now)
            if let stamp { stamps.files[relative] = stamp }
            if let stamp, trusted?.files[relative] == stamp, let old = previousFiles[relative], old.chunks.allSatisfy(striped.contains) {
                files.append(old)
                continue
            }
            filesRead += 1
            let manifest = try FileChunker(chunker: self.chunker, quietPeriod: Self.quietPeriod).chunk(path, now: now) { id, bytes in
                let hex = id.description
                if !striped.contains(hex) { try builder.add(hex, bytes) }
            }
            files.append(MirrorManifest.File(path: relative, chunks: manifest.chunks.map(\.id.description),
                                             sizes: manifest.chunks.map(\.size)))
        }

        // Previous stripes: kept while used, compacted when mostly unused, dropped when unused.
        let live = Set(files.flatMap(\.chunks))
        var kept: [MirrorManifest.Stripe] = []
        var dropped: [MirrorManifest.Stripe] = []
        for stripe in reusable?.stripes ?? [] {
            let liveBytes = zip(stripe.chunks, stripe.sizes).filter { live.contains($0.0) }.reduce(0) { $0 + $1.1 }
            if liveBytes == 0 {
                dropped.append(stripe)
            } else if liveBytes * 2 < stripe.length, let bytes = self.localBytes(of: stripe, in: shards) {
                var offset = 0
                for (hex, size) in zip(stripe.chunks, stripe.sizes) {
                    if live.contains(hex) {
                        try bytes.withUnsafeBytes { try builder.add(hex, UnsafeRawBufferPointer(rebasing: $0[offset..<offset + size])) }
                    }
                    offset += size
                }
                dropped.append(stripe)
            } else {
                kept.append(stripe)
            }
        }
        try builder.flush()

        let root = SourceVersion.root(of: files.map { file in
            SourceVersion.File(path: file.path, manifest: FileManifest(chunks: zip(file.chunks, file.sizes).map {
                FileManifest.Entry(id: ContentID(hex: $0.0)!, size: $0.1)
            }))
        })
        let manifest = MirrorManifest(version: root.description, data: self.code.dataShards, parity: self.code.parityShards,
                                      files: files, stripes: kept + builder.stripes)
        return Result(manifest: manifest, index: stamps, newStripes: builder.stripes.count, droppedStripes: dropped,
                      filesRead: filesRead)
    }

    /// A file modified more recently than this (seconds) may still be being written: the encoder waits until
    /// it is this old, and takes no version of it if it changed meanwhile (``FileChunker``).
    public static let quietPeriod = 1.0

    /// A stripe's bytes from this node's shards (rebuilt from parity if some are missing); `nil` when too few are here.
    private func localBytes(of stripe: MirrorManifest.Stripe, in shards: ChunkStore) -> [UInt8]? {
        let found = stripe.shards.map { hex in ContentID(hex: hex).flatMap { (try? shards.shard($0)) ?? nil } }
        return try? self.code.decodeStripe(found, length: stripe.length)
    }
}

/// Gathers new chunks `data` at a time and turns each group into a stored stripe of shards.
struct StripeBuilder {
    let code: ReedSolomon
    let shards: ChunkStore
    let onStripe: ((Int, MirrorManifest.Stripe) -> Void)?
    private(set) var stripes: [MirrorManifest.Stripe] = []
    private var pending: [UInt8] = []
    private var members: [String] = []
    private var sizes: [Int] = []
    private var added: Set<String> = []

    init(code: ReedSolomon, shards: ChunkStore, onStripe: ((Int, MirrorManifest.Stripe) -> Void)? = nil) {
        self.code = code
        self.shards = shards
        self.onStripe = onStripe
    }

    /// Adds a chunk (once: a chunk already added is skipped).
    mutating func add(_ hex: String, _ bytes: UnsafeRawBufferPointer) throws {
        guard self.added.insert(hex).inserted else { return }
        self.pending.append(contentsOf: bytes)
        self.members.append(hex)
        self.sizes.append(bytes.count)
        if self.members.count == self.code.dataShards { try self.flush() }
    }

    /// Encodes and stores the chunks gathered so far as one stripe.
    mutating func flush() throws {
        guard !self.members.isEmpty else { return }
        let ids = try self.shards.put(many: self.code.encodeStripe(self.pending))
        let stripe = MirrorManifest.Stripe(chunks: self.members, sizes: self.sizes, shards: ids.map(\.description))
        self.onStripe?(self.stripes.count, stripe)
        self.stripes.append(stripe)
        self.pending.removeAll(keepingCapacity: true)
        self.members = []
        self.sizes = []
    }
}
