import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import STOQData

/// Versions after the first keep the stripes they can: a change moves only the changed chunks, unchanged
/// files are not read again, unused stripes are dropped, and the shard store sweeps what no version uses.
struct IncrementalEncodingTests {
    struct Tree {
        let directory: TemporaryDirectory
        let source: String
        let shards: ChunkStore
        let encoder: StripeEncoder

        init() throws {
            self.directory = try TemporaryDirectory(prefix: "incremental")
            self.source = self.directory.path + "/source"
            try FileManager.default.createDirectory(atPath: self.source, withIntermediateDirectories: true)
            self.shards = try ChunkStore(directory: URL(fileURLWithPath: self.directory.path + "/shards"))
            self.encoder = try StripeEncoder(code: ReedSolomon(dataShards: 4, parityShards: 2),
                                             chunker: FastCDC(minimumSize: 8 << 10, averageSize: 32 << 10, maximumSize: 128 << 10))
        }

        func write(_ name: String, _ bytes: [UInt8], age: TimeInterval = 0) throws {
            let path = self.source + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if age > 0 { try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -age)], ofItemAtPath: path) }
        }

        func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: self.source + "/" + name))) }

        func restoresIdentically(_ manifest: MirrorManifest) throws -> Bool {
            let target = self.directory.path + "/restored-\(UUID().uuidString)"
            _ = try MirrorRestorer(manifest: manifest, sources: [self.shards]).restore(to: target)
            return try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/diff"), ["-r", self.source, target]).status == 0
        }
    }

    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    @Test func anInsertionInTheMiddleOfAFileMovesOnlyTheChunksAroundIt() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        try tree.write("big.bin", Self.random(3_000_000, seed: 1))
        try tree.write("other.bin", Self.random(500_000, seed: 2))
        let first = try tree.encoder.encode(source: tree.source, shards: tree.shards, now: .afterQuietPeriod)
        #expect(first.newStripes == first.manifest.stripes.count && first.filesRead == 2)

        var big = try tree.bytes("big.bin")
        big.insert(contentsOf: Array("an insertion in the middle".utf8), at: 1_500_000)
        try tree.write("big.bin", big)
        let second = try tree.encoder.encode(source: tree.source, previous: first.manifest, index: first.index, shards: tree.shards, now: .afterQuietPeriod)
        #expect(second.manifest.version != first.manifest.version)
        // Every earlier stripe stays; the new ones hold only the chunks the insertion changed.
        #expect(Set(first.manifest.stripes).isSubset(of: Set(second.manifest.stripes)))
        #expect(second.droppedStripes.isEmpty)
        #expect(second.newStripes == 1)
        let moved = second.manifest.stripes.suffix(second.newStripes).flatMap(\.chunks)
        #expect((1...3).contains(moved.count), "chunks in new stripes: \(moved.count)")
        let oldChunks = Set(first.manifest.files.flatMap(\.chunks))
        #expect(Set(second.manifest.files.flatMap(\.chunks)).subtracting(oldChunks) == Set(moved))
        #expect(try tree.restoresIdentically(second.manifest))
    }

    @Test func unchangedFilesAreNotReadAgainAndAnUnchangedTreeKeepsItsManifest() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        try tree.write("a.bin", Self.random(400_000, seed: 3), age: 3600)
        try tree.write("b.bin", Self.random(300_000, seed: 4), age: 3600)
        let first = try tree.encoder.encode(source: tree.source, shards: tree.shards, now: .afterQuietPeriod)
        #expect(first.index.files.count == 2)
        let again = try tree.encoder.encode(source: tree.source, previous: first.manifest, index: first.index, shards: tree.shards, now: .afterQuietPeriod)
        #expect(again.filesRead == 0 && again.manifest == first.manifest && again.newStripes == 0)

        // A file written just now gets no stamp (it may change again within the clock's tick): read next time too.
        try tree.write("b.bin", Self.random(300_000, seed: 5))
        let changed = try tree.encoder.encode(source: tree.source, previous: again.manifest, index: again.index, shards: tree.shards, now: .afterQuietPeriod)
        #expect(changed.filesRead == 1 && changed.index.files["b.bin"] == nil && changed.index.files["a.bin"] != nil)
        #expect(try tree.restoresIdentically(changed.manifest))
        // Another chunker: the stamps do not apply.
        let other = try StripeEncoder(code: ReedSolomon(dataShards: 4, parityShards: 2), chunker: FastCDC())
        #expect(try other.encode(source: tree.source, previous: changed.manifest, index: changed.index, shards: tree.shards, now: .afterQuietPeriod).filesRead == 2)
    }

    @Test func streamedFilesCutWhereTheWholeFileWouldBeCut() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        // Larger than the reader's 8 MiB window, so chunks straddle refills.
        let bytes = Self.random(FileChunker.readBytes * 2 + 123_457, seed: 13)
        try tree.write("big.bin", bytes, age: 60)
        var visited = 0
        let streamed = try FileChunker(chunker: tree.encoder.chunker).chunk(tree.source + "/big.bin") { _, chunk in visited += chunk.count }
        #expect(streamed == FileManifest(bytes: bytes, chunker: tree.encoder.chunker))
        #expect(visited == bytes.count)
        #expect(throws: HyperMeshError.io()) { try FileChunker(chunker: tree.encoder.chunker).chunk(tree.source + "/missing") }
    }

    @Test func sourceIndexesRoundTripAndAnUnreadableOneMeansReadingEverything() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        try tree.write("a.bin", Self.random(10_000, seed: 12), age: 3600)
        let encoded = try tree.encoder.encode(source: tree.source, shards: tree.shards)
        let url = URL(fileURLWithPath: tree.directory.path + "/index/photos.index.json")
        try encoded.index.save(to: url)
        #expect(SourceIndex.load(from: url) == encoded.index)
        try Data("{ not json".utf8).write(to: url)
        #expect(SourceIndex.load(from: url) == nil)
        #expect(SourceIndex.load(from: URL(fileURLWithPath: tree.directory.path + "/missing.json")) == nil)
        let again = try tree.encoder.encode(source: tree.source, previous: encoded.manifest, index: SourceIndex.load(from: url),
                                            shards: tree.shards)
        #expect(again.filesRead == 1 && again.manifest == encoded.manifest)
        #expect(SourceIndex.stamp(of: tree.source + "/missing", scannedAt: Date()) == nil)
    }

    @Test func aFileBeingWrittenIsNotTakenForAVersion() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        try tree.write("settled.bin", Self.random(100_000, seed: 9), age: 60)
        try tree.write("writing.bin", Self.random(100_000, seed: 10))
        // Modified just now, and again while the encoder waits out the quiet period: no version of it.
        let path = tree.source + "/writing.bin"
        let writer = Thread {
            Thread.sleep(forTimeInterval: 0.4)
            try? Data(Self.random(50_000, seed: 11)).write(to: URL(fileURLWithPath: path))
        }
        writer.start()
        #expect(throws: HyperMeshError.conflict()) { try tree.encoder.encode(source: tree.source, shards: tree.shards) }
        // Left alone, it is taken once it is a quiet period old (the encoder waits for that).
        let settled = try tree.encoder.encode(source: tree.source, shards: tree.shards)
        #expect(settled.manifest.files.count == 2)
        #expect(try tree.restoresIdentically(settled.manifest))
    }

    @Test func stripesNoFileUsesAreDroppedAndMostlyUnusedOnesCompacted() throws {
        let tree = try Tree()
        defer { tree.directory.remove() }
        try tree.write("gone.bin", Self.random(1_000_000, seed: 6))
        try tree.write("kept.bin", Self.random(40_000, seed: 7))
        let first = try tree.encoder.encode(source: tree.source, shards: tree.shards, now: .afterQuietPeriod)
        try FileManager.default.removeItem(atPath: tree.source + "/gone.bin")
        let second = try tree.encoder.encode(source: tree.source, previous: first.manifest, index: first.index, shards: tree.shards, now: .afterQuietPeriod)
        let live = Set(second.manifest.files.flatMap(\.chunks))
        #expect(!second.droppedStripes.isEmpty)
        // What is left is used: no stripe is more than half made of chunks no file has.
        for stripe in second.manifest.stripes {
            let liveBytes = zip(stripe.chunks, stripe.sizes).filter { live.contains($0.0) }.reduce(0) { $0 + $1.1 }
            #expect(liveBytes * 2 >= stripe.length)
        }
        #expect(try tree.restoresIdentically(second.manifest))

        // The shards of dropped stripes are swept once past their grace; the kept ones stay.
        let kept = Set(second.manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:)))
        #expect(try tree.shards.sweep(keeping: kept, grace: .hours(1)).isEmpty, "within the grace period nothing goes")
        let swept = try tree.shards.sweep(keeping: kept, grace: .seconds(0), now: Date(timeIntervalSinceNow: 1))
        let droppedShards = Set(second.droppedStripes.flatMap(\.shards).compactMap(ContentID.init(hex:))).subtracting(kept)
        #expect(Set(swept) == droppedShards)
        #expect(kept.allSatisfy(tree.shards.contains) && !droppedShards.contains(where: tree.shards.contains))
        #expect(try tree.restoresIdentically(second.manifest))
    }
}

/// Restores spread their fetches: each stripe's shards are asked of the least-loaded holder, rarest first.
struct RestorePlanTests {
    /// A remote-looking source over a shard store, holding only some shards.
    final class CountingSource: ShardSource {
        let store: ChunkStore
        let holds: Set<ContentID>
        var fetched = 0
        init(store: ChunkStore, holds: Set<ContentID>) {
            self.store = store
            self.holds = holds
        }
        func shard(_ id: ContentID) throws -> [UInt8]? {
            guard self.holds.contains(id) else { return nil }
            self.fetched += 1
            return try self.store.shard(id)
        }
        func holdings(_ ids: [ContentID]) -> Set<ContentID>? { self.holds.intersection(ids) }
        var isRemote: Bool { true }
    }

    @Test func fetchesAreSpreadOverPeersAndRareShardsComeFromTheirOnlyHolder() throws {
        let tree = try IncrementalEncodingTests.Tree()
        defer { tree.directory.remove() }
        try tree.write("data.bin", IncrementalEncodingTests.random(2_000_000, seed: 8))
        let manifest = try tree.encoder.encode(source: tree.source, shards: tree.shards, now: .afterQuietPeriod).manifest
        let all = Set(manifest.stripes.flatMap(\.shards).compactMap(ContentID.init(hex:)))
        // Two peers hold everything; a third holds only the last parity shard of each stripe, which nobody else has.
        let rare = Set(manifest.stripes.compactMap { ContentID(hex: $0.shards[5]) })
        let first = CountingSource(store: tree.shards, holds: all.subtracting(rare))
        let second = CountingSource(store: tree.shards, holds: all.subtracting(rare))
        let third = CountingSource(store: tree.shards, holds: rare)
        let target = tree.directory.path + "/restored"
        let outcome = try MirrorRestorer(manifest: manifest, sources: [first, second, third]).restore(to: target)
        #expect(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/diff"), ["-r", tree.source, target]).status == 0)
        let stripes = manifest.stripes.count
        #expect(third.fetched == stripes, "the rarest shard of every stripe is fetched from its only holder")
        #expect(first.fetched + second.fetched == stripes * 3)
        #expect(abs(first.fetched - second.fetched) <= 1, "\(first.fetched) vs \(second.fetched)")
        #expect(outcome.fetchedFrom == [0: first.fetched, 1: second.fetched, 2: third.fetched])
        #expect(outcome.shardsRebuilt == stripes, "one data shard per stripe rebuilt from the parity fetched instead")
    }
}
