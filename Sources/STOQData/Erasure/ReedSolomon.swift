import CISAL
import HyperMeshCore

/// Systematic Reed–Solomon coding over GF(2^8) with ISA-L: `data` shards get `parity` shards,
/// and any `data` of the `data + parity` shards rebuild the stripe byte-identical. The
/// generator is ISA-L's Cauchy matrix, so every choice of `data` surviving shards is invertible.
public struct ReedSolomon: Sendable {
    public let dataShards: Int
    public let parityShards: Int
    /// (data + parity) × data generator: identity on top, Cauchy rows below.
    let generator: [UInt8]
    /// ISA-L's expanded tables for the parity rows.
    let parityTables: [UInt8]

    /// - Throws: ``HyperMeshError`` `invalidArgument` unless 1 ≤ data ≤ 128, 0 ≤ parity ≤ 127, data + parity ≤ 255.
    public init(dataShards: Int = 10, parityShards: Int = 4) throws {
        guard (1...128).contains(dataShards), (0...127).contains(parityShards), dataShards + parityShards <= 255 else {
            throw HyperMeshError.invalidArgument("Reed–Solomon \(dataShards)+\(parityShards): need 1...128 data, 0...127 parity, at most 255 in all")
        }
        self.dataShards = dataShards
        self.parityShards = parityShards
        let total = dataShards + parityShards
        var generator = [UInt8](repeating: 0, count: total * dataShards)
        gf_gen_cauchy1_matrix(&generator, Int32(total), Int32(dataShards))
        self.generator = generator
        var tables = [UInt8](repeating: 0, count: max(1, dataShards * parityShards * 32))
        if parityShards > 0 {
            generator.withUnsafeBufferPointer { matrix in
                ec_init_tables(Int32(dataShards), Int32(parityShards),
                               UnsafeMutablePointer(mutating: matrix.baseAddress! + dataShards * dataShards), &tables)
            }
        }
        self.parityTables = tables
    }

    /// The parity shards of `data` (``dataShards`` shards of equal length).
    public func encode(_ data: [[UInt8]]) -> [[UInt8]] {
        precondition(data.count == self.dataShards, "encode takes \(self.dataShards) data shards")
        let length = data[0].count
        precondition(data.allSatisfy { $0.count == length }, "shards of a stripe have one length")
        guard self.parityShards > 0, length > 0 else {
            return [[UInt8]](repeating: [UInt8](repeating: 0, count: length), count: self.parityShards)
        }
        return Self.withInputPointers(data) { inputs in
            Self.withOutputShards(count: self.parityShards, length: length) { outputs in
                self.parityTables.withUnsafeBufferPointer { tables in
                    ec_encode_data(Int32(length), Int32(self.dataShards), Int32(self.parityShards),
                                   UnsafeMutablePointer(mutating: tables.baseAddress!), inputs, outputs)
                }
            }
        }
    }

    /// Rebuilds every shard of a stripe from those present (`nil` for lost ones), in order:
    /// data shards first, then parity.
    ///
    /// - Throws: ``HyperMeshError`` `corruptData` ("unrecoverable") when fewer than
    ///   ``dataShards`` shards survive — never a guess.
    public func reconstruct(_ shards: [[UInt8]?]) throws -> [[UInt8]] {
        try self.reconstruct(shards, parityToo: true)
    }

    /// Rebuilds the data shards (and with `parityToo`, the lost parity shards as well).
    func reconstruct(_ shards: [[UInt8]?], parityToo: Bool) throws -> [[UInt8]] {
        let total = self.dataShards + self.parityShards
        precondition(shards.count == total, "reconstruct takes \(total) shard slots")
        let present = shards.indices.filter { shards[$0] != nil }
        guard present.count >= self.dataShards else {
            throw HyperMeshError.corruptData("unrecoverable: \(present.count) of \(total) shards survive, \(self.dataShards) are needed")
        }
        let length = shards[present[0]]!.count
        guard present.allSatisfy({ shards[$0]!.count == length }) else {
            throw HyperMeshError.corruptData("shards of one stripe differ in length")
        }
        var result = shards.map { $0 ?? [] }
        let missingData = (0..<self.dataShards).filter { shards[$0] == nil }
        if !missingData.isEmpty {
            // Rows of the generator for the first `data` survivors, inverted, give the data back.
            let survivors = Array(present.prefix(self.dataShards))
            var square = [UInt8](repeating: 0, count: self.dataShards * self.dataShards)
            for (row, index) in survivors.enumerated() {
                for column in 0..<self.dataShards {
                    square[row * self.dataShards + column] = self.generator[index * self.dataShards + column]
                }
            }
            var inverse = [UInt8](repeating: 0, count: square.count)
            guard gf_invert_matrix(&square, &inverse, Int32(self.dataShards)) == 0 else {
                throw HyperMeshError.internalError("the Cauchy submatrix did not invert")
            }
            var decodeRows = [UInt8]()
            for index in missingData { decodeRows += inverse[(index * self.dataShards)..<((index + 1) * self.dataShards)] }
            var tables = [UInt8](repeating: 0, count: self.dataShards * missingData.count * 32)
            ec_init_tables(Int32(self.dataShards), Int32(missingData.count), &decodeRows, &tables)
            let inputs = survivors.map { shards[$0]! }
            let rebuilt = Self.withInputPointers(inputs) { inputPointers in
                Self.withOutputShards(count: missingData.count, length: length) { outputPointers in
                    ec_encode_data(Int32(length), Int32(self.dataShards), Int32(missingData.count), &tables, inputPointers, outputPointers)
                }
            }
            for (position, index) in missingData.enumerated() { result[index] = rebuilt[position] }
        }
        if parityToo && (self.dataShards..<total).contains(where: { shards[$0] == nil }) {
            let parity = self.encode(Array(result[0..<self.dataShards]))
            for index in self.dataShards..<total where shards[index] == nil { result[index] = parity[index - self.dataShards] }
        }
        return result
    }

    // MARK: - Stripes of bytes

    /// Splits `bytes` into ``dataShards`` equal shards (zero-padded) and adds parity.
    public func encodeStripe(_ bytes: [UInt8]) -> [[UInt8]] {
        let shardLength = max(1, (bytes.count + self.dataShards - 1) / self.dataShards)
        var data: [[UInt8]] = []
        for index in 0..<self.dataShards {
            let start = min(bytes.count, index * shardLength)
            let end = min(bytes.count, start + shardLength)
            var shard = Array(bytes[start..<end])
            shard += [UInt8](repeating: 0, count: shardLength - shard.count)
            data.append(shard)
        }
        return data + self.encode(data)
    }

    /// The original `length` bytes of a stripe, rebuilt from any ``dataShards`` of its shards.
    public func decodeStripe(_ shards: [[UInt8]?], length: Int) throws -> [UInt8] {
        let all = try self.reconstruct(shards, parityToo: false)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        for shard in all[0..<self.dataShards] where bytes.count < length {
            bytes.append(contentsOf: shard.prefix(length - bytes.count))
        }
        return bytes
    }

    // MARK: - Pointers for ISA-L

    /// Runs `body` with an array of pointers to each input shard's bytes.
    static func withInputPointers<R>(_ arrays: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<UInt8>?] = []
        pointers.reserveCapacity(arrays.count)
        func nest(_ index: Int) -> R {
            if index == arrays.count { return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) } }
            return arrays[index].withUnsafeBufferPointer { buffer in
                pointers.append(UnsafeMutablePointer(mutating: buffer.baseAddress))
                return nest(index + 1)
            }
        }
        return nest(0)
    }

    /// Runs `body` with pointers to `count` output shards of `length` bytes, and returns them.
    static func withOutputShards(count: Int, length: Int,
                                 _ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) -> Void) -> [[UInt8]] {
        var storage = [UInt8](repeating: 0, count: count * length)
        storage.withUnsafeMutableBufferPointer { buffer in
            var pointers: [UnsafeMutablePointer<UInt8>?] = (0..<count).map { buffer.baseAddress! + $0 * length }
            pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        }
        return (0..<count).map { Array(storage[($0 * length)..<(($0 + 1) * length)]) }
    }
}
