import Foundation
import HyperMeshCore
import STOQData
import Testing

struct ReedSolomonTests {
    /// Every subset of `size` positions among `count`.
    static func subsets(of count: Int, size: Int) -> [[Int]] {
        if size == 0 { return [[]] }
        if count < size { return [] }
        return subsets(of: count - 1, size: size) + subsets(of: count - 1, size: size - 1).map { $0 + [count - 1] }
    }

    @Test func everyLossOfUpToFourShardsOfTenPlusFourRebuildsExactly() throws {
        let coder = try ReedSolomon(dataShards: 10, parityShards: 4)
        let bytes = FastCDCTests.bytes(count: 10 * 97 - 5, seed: 11)  // not a multiple of 10: padding is exercised
        let shards = coder.encodeStripe(bytes)
        #expect(shards.count == 14 && shards.allSatisfy { $0.count == 97 })
        var cases = 0
        for lost in 0...4 {
            for subset in Self.subsets(of: 14, size: lost) {
                var damaged: [[UInt8]?] = shards
                for index in subset { damaged[index] = nil }
                #expect(try coder.reconstruct(damaged) == shards, "lost \(subset)")
                #expect(try coder.decodeStripe(damaged, length: bytes.count) == bytes)
                cases += 1
            }
        }
        #expect(cases == 1471)
    }

    @Test func losingFiveIsUnrecoverableNotGarbage() throws {
        let coder = try ReedSolomon()
        let shards = coder.encodeStripe(FastCDCTests.bytes(count: 4096, seed: 5))
        var damaged: [[UInt8]?] = shards
        for index in [0, 3, 7, 11, 13] { damaged[index] = nil }
        #expect(throws: HyperMeshError.corruptData()) { try coder.reconstruct(damaged) }
        var uneven: [[UInt8]?] = shards
        uneven[2] = [1, 2, 3]
        #expect(throws: HyperMeshError.corruptData()) { try coder.reconstruct(uneven) }
    }

    @Test func largeStripesRebuildFromRandomSurvivors() throws {
        let coder = try ReedSolomon(dataShards: 10, parityShards: 4)
        let bytes = FastCDCTests.bytes(count: 512 << 10, seed: 9)
        let shards = coder.encodeStripe(bytes)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<8 {
            var damaged: [[UInt8]?] = shards
            for index in Array(0..<14).shuffled(using: &generator).prefix(Int.random(in: 0...4, using: &generator)) { damaged[index] = nil }
            #expect(try coder.decodeStripe(damaged, length: bytes.count) == bytes)
        }
    }

    @Test func otherShapesAndBadParameters() throws {
        for (data, parity) in [(1, 0), (1, 1), (4, 2), (20, 10), (128, 127)] {
            let coder = try ReedSolomon(dataShards: data, parityShards: parity)
            let bytes = FastCDCTests.bytes(count: data * 8, seed: UInt64(data))
            var shards: [[UInt8]?] = coder.encodeStripe(bytes)
            for index in 0..<parity { shards[index] = nil }
            #expect(try coder.decodeStripe(shards, length: bytes.count) == bytes, "\(data)+\(parity)")
        }
        #expect(throws: HyperMeshError.invalidArgument()) { try ReedSolomon(dataShards: 0, parityShards: 4) }
        #expect(throws: HyperMeshError.invalidArgument()) { try ReedSolomon(dataShards: 128, parityShards: 128) }
    }
}
