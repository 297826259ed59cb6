import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import STOQData
import Testing

struct ChunkStoreTests {
    @Test func storesByContentWithFanOutAndVerifiesOnRead() throws {
        let directory = try TemporaryDirectory(prefix: "chunks")
        defer { directory.remove() }
        let store = try ChunkStore(directory: directory.url)
        let bytes = FastCDCTests.bytes(count: 70_000, seed: 1)
        let id = try store.put(bytes)
        #expect(id == ContentID(of: bytes))
        let hex = id.description
        #expect(store.path(of: id).path.hasSuffix("chunks/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"))
        #expect(try store.get(id) == bytes)
        #expect(try store.put(bytes) == id)  // idempotent
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tmp").isEmpty)
        #expect(throws: HyperMeshError.notFound()) { try store.get(ContentID(of: [1, 2, 3])) }
    }

    @Test func corruptionIsDetectedQuarantinedAndRepairedByAGoodCopy() throws {
        let directory = try TemporaryDirectory(prefix: "chunks-corrupt")
        defer { directory.remove() }
        let store = try ChunkStore(directory: directory.url)
        let bytes = FastCDCTests.bytes(count: 4096, seed: 2)
        let id = try store.put(bytes)
        // Flip one byte on disk.
        var damaged = bytes
        damaged[1234] ^= 0x01
        try Data(damaged).write(to: store.path(of: id))
        #expect(throws: HyperMeshError.corruptData()) { try store.get(id) }
        #expect(!store.contains(id))
        let quarantined = try store.quarantined()
        #expect(quarantined.map(\.id) == [id])
        #expect(quarantined.first?.reason.contains("hash to") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/quarantine").count == 1)
        // The repair path writes a good copy (from a peer or rebuilt from parity).
        try store.put(bytes)
        #expect(try store.get(id) == bytes)
    }

    @Test func unreferencedChunksAreCollectedAfterTheGracePeriod() throws {
        let directory = try TemporaryDirectory(prefix: "chunks-gc")
        defer { directory.remove() }
        let store = try ChunkStore(directory: directory.url)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let kept = try store.put(Array("kept".utf8), now: start)
        let dropped = try store.put(Array("dropped".utf8), now: start)
        let never = try store.put(Array("never referenced".utf8), now: start)
        try store.retain([kept, dropped])
        try store.retain([kept])
        #expect(try store.references(of: kept) == 2)
        try store.release([dropped, kept], now: start.addingTimeInterval(10))
        #expect(try store.references(of: kept) == 1)
        #expect(try store.references(of: dropped) == 0)
        #expect(try store.collectGarbage(grace: .hours(1), now: start.addingTimeInterval(60)).isEmpty)
        let collected = try store.collectGarbage(grace: .hours(1), now: start.addingTimeInterval(3600 + 10))
        #expect(Set(collected) == Set([dropped, never]))
        #expect(store.contains(kept) && !store.contains(dropped) && !store.contains(never))
        #expect(try store.references(of: dropped) == nil)
        #expect(throws: HyperMeshError.notFound()) { try store.retain([dropped]) }
    }
}
