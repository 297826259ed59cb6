import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import STOQData

/// A source tree chunked, erasure-coded into shards and rebuilt byte-identical from shards alone — with
/// shards lost, corrupt, or too few.
struct MirrorRestoreTests {
    struct Mirror {
        let directory: TemporaryDirectory
        let source: String
        let shards: ChunkStore
        let manifest: MirrorManifest

        init(data: Int = 4, parity: Int = 2, seed: UInt64 = 1) throws {
            self.directory = try TemporaryDirectory(prefix: "mirror")
            self.source = self.directory.path + "/source"
            var random = SplitMix64(seed: seed)
            let files: [(String, Int)] = [("a.bin", 700_000), ("nested/deeper/b.bin", 1_300_000), ("empty", 0), ("small.txt", 17)]
            for (path, size) in files {
                let url = URL(fileURLWithPath: self.source).appendingPathComponent(path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data((0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: url)
            }
            // A duplicate file: its chunks are stored and striped once.
            try FileManager.default.copyItem(atPath: self.source + "/a.bin", toPath: self.source + "/copy-of-a.bin")
            self.shards = try ChunkStore(directory: URL(fileURLWithPath: self.directory.path + "/shards"))
            let chunker = try FastCDC(minimumSize: 8 << 10, averageSize: 32 << 10, maximumSize: 128 << 10)
            self.manifest = try StripeEncoder(code: ReedSolomon(dataShards: data, parityShards: parity), chunker: chunker)
                .encode(source: self.source, shards: self.shards, now: .afterQuietPeriod).manifest
        }

        func same(_ restored: String) throws -> Bool {
            let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/diff"), ["-r", self.source, restored])
            return result.status == 0
        }

        func remove(_ hex: String) throws {
            try FileManager.default.removeItem(at: self.shards.path(of: ContentID(hex: hex)!))
        }
    }

    @Test func aTreeIsRestoredByteIdenticalFromItsShardsAlone() throws {
        let mirror = try Mirror()
        defer { mirror.directory.remove() }
        let unique = Set(mirror.manifest.stripes.flatMap(\.chunks))
        #expect(mirror.manifest.files.count == 5)
        #expect(unique.count == mirror.manifest.chunkCount, "duplicate chunks are striped once")
        #expect(mirror.manifest.stripes.allSatisfy { $0.shards.count == 6 })
        // Only the shards and the manifest are read.
        let restored = mirror.directory.path + "/restored"
        let outcome = try MirrorRestorer(manifest: mirror.manifest, sources: [mirror.shards]).restore(to: restored)
        #expect(outcome.files == 5 && outcome.shardsRebuilt == 0)
        #expect(try mirror.same(restored))
    }

    @Test func everyWayOfLosingUpToParityShardsOfAStripeRebuildsIt() throws {
        let mirror = try Mirror(data: 4, parity: 2)
        defer { mirror.directory.remove() }
        let stripe = mirror.manifest.stripes[0]
        var combinations: [[Int]] = []
        for first in 0..<6 {
            combinations.append([first])
            for second in (first + 1)..<6 { combinations.append([first, second]) }
        }
        let single = MirrorManifest(version: mirror.manifest.version, data: 4, parity: 2, files: [],
                                    stripes: [stripe])
        let expected = try MirrorRestorer(manifest: single, sources: [mirror.shards]).chunks().chunks
        for lost in combinations {
            let missing = Set(lost.map { stripe.shards[$0] })
            let source = FilteredSource(store: mirror.shards, missing: missing)
            let rebuilt = try MirrorRestorer(manifest: single, sources: [source]).chunks()
            #expect(rebuilt.chunks == expected, "lost shards \(lost)")
        }
        // Three lost of a 4+2 stripe: reported as unrecoverable, never garbage.
        let tooMany = FilteredSource(store: mirror.shards, missing: Set(stripe.shards.prefix(3)))
        #expect(throws: HyperMeshError.notFound()) { try MirrorRestorer(manifest: single, sources: [tooMany]).chunks() }
        do {
            _ = try MirrorRestorer(manifest: single, sources: [tooMany]).chunks()
        } catch {
            #expect("\(error)".contains("stripe 0: only 3 of 6 shards reachable, 4 needed"))
        }
    }

    @Test func randomLossesUpToParityAcrossAllStripesOfTenPlusFourRestore() throws {
        let mirror = try Mirror(data: 10, parity: 4, seed: 7)
        defer { mirror.directory.remove() }
        var random = SplitMix64(seed: 99)
        var removed = 0
        for stripe in mirror.manifest.stripes {
            var indexes = Array(0..<14)
            for _ in 0..<Int(random.next() % 5) {
                let pick = Int(random.next() % UInt64(indexes.count))
                try mirror.remove(stripe.shards[indexes.remove(at: pick)])
                removed += 1
            }
        }
        #expect(removed > 0)
        let restored = mirror.directory.path + "/restored"
        let outcome = try MirrorRestorer(manifest: mirror.manifest, sources: [mirror.shards]).restore(to: restored)
        #expect(outcome.shardsRebuilt > 0)
        #expect(try mirror.same(restored))
    }

    @Test func aCorruptShardIsQuarantinedAndRebuiltFromParity() throws {
        let mirror = try Mirror()
        defer { mirror.directory.remove() }
        let victim = mirror.shards.path(of: ContentID(hex: mirror.manifest.stripes[0].shards[1])!)
        var bytes = [UInt8](try Data(contentsOf: victim))
        bytes[0] ^= 0xFF
        try Data(bytes).write(to: victim)
        let restored = mirror.directory.path + "/restored"
        let outcome = try MirrorRestorer(manifest: mirror.manifest, sources: [mirror.shards]).restore(to: restored)
        #expect(outcome.shardsRebuilt == 1)
        #expect(try mirror.same(restored))
        #expect(try mirror.shards.quarantined().map(\.id.description) == [mirror.manifest.stripes[0].shards[1]])
    }

    @Test func manifestsRoundTripAndMalformedOnesAreRefused() throws {
        let mirror = try Mirror()
        defer { mirror.directory.remove() }
        let bytes = try mirror.manifest.encoded()
        #expect(try MirrorManifest.decode(bytes, source: "m") == mirror.manifest)
        #expect(try MirrorManifest.decode(bytes, source: "m").id == mirror.manifest.id)
        func refusal(_ change: (inout MirrorManifest) -> Void) -> String {
            var manifest = mirror.manifest
            change(&manifest)
            do {
                _ = try MirrorManifest.decode(try manifest.encoded(), source: "m")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal { $0.format = "other" }.contains("manifest format other"))
        #expect(refusal { $0.data = 0 }.contains("erasure code 0+2 is out of range"))
        #expect(refusal { $0.files[0].path = "../../etc/passwd" }.contains("escapes the target"))
        #expect(refusal { $0.files[0].path = "/abs" }.contains("escapes the target"))
        #expect(refusal { $0.stripes[0].shards.removeLast() }.contains("stripes[0] does not match the 4+2 code"))
        #expect(refusal { $0.files[1].sizes.append(1) }.contains("files[1]"))
        #expect(throws: HyperMeshError.corruptData()) { try MirrorManifest.decode(Array("{}".utf8), source: "m") }
    }
}

/// The shard store minus some shards (lost peers).
struct FilteredSource: ShardSource {
    let store: ChunkStore
    let missing: Set<String>
    func shard(_ id: ContentID) throws -> [UInt8]? { self.missing.contains(id.description) ? nil : try self.store.shard(id) }
}
