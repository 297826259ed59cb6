import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import STOQData
import Testing

struct FastCDCTests {
    /// Deterministic bytes, the same on every machine.
    static func bytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        var output = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for shift in 0..<8 where index < count {
                output[index] = UInt8((z >> (8 * UInt64(shift))) & 0xFF)
                index += 1
            }
        }
        return output
    }

    @Test(arguments: [(16 << 10, 64 << 10, 256 << 10, 1), (64, 256, 1024, 1), (2048, 8192, 65536, 2), (4096, 16384, 65536, 0)])
    func boundariesEqualTheReferenceImplementation(minimum: Int, average: Int, maximum: Int, normalization: Int) throws {
        guard (try? ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import pyfastcdc"]).status) == 0 else {
            print("skipped: pyfastcdc is not installed (Packaging/install-deps.sh installs it)")
            return
        }
        let directory = try TemporaryDirectory(prefix: "fastcdc")
        defer { directory.remove() }
        let data = Self.bytes(count: 3 << 20, seed: 42)
        let file = directory.url.appendingPathComponent("data.bin")
        try Data(data).write(to: file)
        let script = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/pyfastcdc_cuts.py")
        let reference = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), [
            "python3", script.path, file.path, String(minimum), String(average), String(maximum), String(normalization),
        ])
        try #require(reference.status == 0, "\(reference.standardError)")
        let expected = reference.standardOutput.split(separator: "\n").map { line -> [Int] in line.split(separator: " ").compactMap { Int($0) } }
        let chunker = try FastCDC(minimumSize: minimum, averageSize: average, maximumSize: maximum, normalization: normalization)
        let ours = chunker.chunks(of: data).map { [$0.offset, $0.length] }
        #expect(ours.count == expected.count)
        #expect(ours == expected)
    }

    @Test func anInsertionChangesOnlyTheChunksAroundIt() throws {
        let chunker = try FastCDC()
        let original = Self.bytes(count: 8 << 20, seed: 7)
        var edited = original
        edited.insert(contentsOf: Array("an insertion in the middle".utf8), at: 4 << 20)
        let before = FileManifest(bytes: original, chunker: chunker).chunks.map(\.id)
        let after = FileManifest(bytes: edited, chunker: chunker).chunks.map(\.id)
        let changed = Set(after).subtracting(before)
        #expect(!changed.isEmpty && changed.count <= 2, "\(changed.count) chunks changed")
        #expect(Set(before).subtracting(after).count <= 2)
        #expect(before.count > 100)
        // Deleting it again restores the original chunks exactly.
        #expect(FileManifest(bytes: original, chunker: chunker).id == FileManifest(bytes: original, chunker: chunker).id)
    }

    @Test func chunkSizesStayInBoundsAndCoverTheInput() throws {
        let chunker = try FastCDC(minimumSize: 4096, averageSize: 16384, maximumSize: 65536)
        let data = Self.bytes(count: 2 << 20, seed: 3) + [UInt8](repeating: 0, count: 1 << 20)  // random, then constant bytes
        let cuts = chunker.chunks(of: data)
        #expect(cuts.map(\.length).reduce(0, +) == data.count)
        #expect(cuts.dropLast().allSatisfy { $0.length >= 4096 && $0.length <= 65536 })
        #expect(cuts.contains { $0.length == 65536 }, "constant data is cut at the maximum")
        #expect(chunker.chunks(of: [UInt8]()).isEmpty)
        #expect(chunker.chunks(of: [1, 2, 3]).map(\.length) == [3])
    }

    @Test func chunkIDsMatchCommittedVectors() throws {
        let chunker = try FastCDC()
        let manifest = FileManifest(bytes: Self.bytes(count: 1 << 20, seed: 2026), chunker: chunker)
        let vectors = try String(contentsOf: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/vectors.txt"), encoding: .utf8)
        let lines = manifest.chunks.map { "\($0.size) \($0.id)" } + ["manifest \(manifest.id)"]
        #expect(lines.joined(separator: "\n") + "\n" == vectors)
    }

    @Test func refusesBadParameters() {
        #expect(throws: HyperMeshError.invalidArgument()) { try FastCDC(minimumSize: 10) }
        #expect(throws: HyperMeshError.invalidArgument()) { try FastCDC(minimumSize: 4096, averageSize: 2048, maximumSize: 8192) }
        #expect(throws: HyperMeshError.invalidArgument()) { try FastCDC(maximumSize: 64 << 20) }
        #expect(throws: HyperMeshError.invalidArgument()) { try FastCDC(normalization: 4) }
        #expect(ContentID(hex: "zz") == nil)
        let id = ContentID(of: Array("abc".utf8))
        #expect(id.description == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentID(hex: id.description) == id)
    }
}
