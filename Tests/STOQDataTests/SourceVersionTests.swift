import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import STOQData
import Testing

struct SourceVersionTests {
    @Test func versionsShareEveryUnchangedChunkAndManifest() throws {
        let directory = try TemporaryDirectory(prefix: "source")
        defer { directory.remove() }
        for (index, name) in ["a.bin", "sub/b.bin", "sub/deeper/c.bin"].enumerated() {
            try directory.write("tree/" + name, String(decoding: FastCDCTests.bytes(count: 300_000, seed: UInt64(index)).map { $0 % 94 + 33 }, as: UTF8.self))
        }
        let chunker = try FastCDC()
        let store = try ChunkStore(directory: directory.url.appendingPathComponent("store"))
        let first = try SourceVersion.scan(directory.path + "/tree", chunker: chunker, store: store)
        #expect(first.files.map(\.path) == ["a.bin", "sub/b.bin", "sub/deeper/c.bin"])
        #expect(first.byteCount == 900_000)
        #expect(try SourceVersion.scan(directory.path + "/tree", chunker: chunker).root == first.root)

        // Change the middle of one file.
        var bytes = [UInt8](try Data(contentsOf: directory.url.appendingPathComponent("tree/sub/b.bin")))
        bytes.replaceSubrange(150_000..<150_010, with: Array("CHANGED!!!".utf8))
        try Data(bytes).write(to: directory.url.appendingPathComponent("tree/sub/b.bin"))
        let second = try SourceVersion.scan(directory.path + "/tree", chunker: chunker, store: store)
        #expect(second.root != first.root)
        #expect(second.files[0].manifest == first.files[0].manifest && second.files[2].manifest == first.files[2].manifest)
        let firstChunks = Set(first.files.flatMap { $0.manifest.chunks.map(\.id) })
        let secondChunks = Set(second.files.flatMap { $0.manifest.chunks.map(\.id) })
        #expect(secondChunks.subtracting(firstChunks).count <= 2)
        for id in secondChunks { #expect(store.contains(id)) }

        let single = try SourceVersion.scan(directory.path + "/tree/a.bin", chunker: chunker)
        #expect(single.files.map(\.path) == [""] && single.files[0].manifest == first.files[0].manifest)
        #expect(throws: HyperMeshError.io()) { try SourceVersion.scan(directory.path + "/missing", chunker: chunker) }
        #expect(SourceVersion.root(of: []) == ContentID(of: []))
    }
}
