import Crypto
import Foundation
import HyperMeshCore

/// PoSpace (where): a provider fills a plot in its pool's storage with leaves derived from (node id, plot
/// seed) by a deliberately slow sequential function — `rounds` chained SHA-256 per leaf — and publishes the
/// Merkle root. Validators challenge random leaves (indexes derived from the latest committed block hash);
/// the answer is each leaf with its Merkle path, and it must arrive before a deadline.
///
/// Why a prover without the data cannot meet the deadline: the challenged leaves themselves cost only
/// `rounds` hashes each, but their Merkle paths need the sibling subtrees, which need every leaf — the
/// whole plot, `leafCount × rounds` sequential-per-leaf hashes — while a prover with the plot reads
/// `count × log2(leafCount)` hashes from disk. The deadline is set between the two.
public struct SpaceCommitment: Sendable, Hashable {
    public var nodeID: [UInt8]
    public var seed: ConsensusHash
    public var leafCount: Int
    public var rounds: Int
    public var root: ConsensusHash

    public init(nodeID: [UInt8], seed: ConsensusHash, leafCount: Int, rounds: Int, root: ConsensusHash) {
        self.nodeID = nodeID
        self.seed = seed
        self.leafCount = leafCount
        self.rounds = rounds
        self.root = root
    }

    /// One line: `NODE-ID SEED LEAVES ROUNDS ROOT` (hex, decimal), as `PLOT.commitment` holds it.
    var line: String {
        "\(self.nodeID.hexString) \(self.seed.bytes.hexString) \(self.leafCount) \(self.rounds) \(self.root.bytes.hexString)\n"
    }

    init(line: String, file: String) throws {
        let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5, let nodeID = [UInt8](hexString: fields[0]), let seed = [UInt8](hexString: fields[1]), seed.count == 32,
              let leaves = Int(fields[2]), leaves > 1, leaves & (leaves - 1) == 0, let rounds = Int(fields[3]), rounds > 0,
              let root = [UInt8](hexString: fields[4]), root.count == 32 else {
            throw HyperMeshError.corruptData("\(file): expected `NODE-ID SEED LEAVES ROUNDS ROOT` (hex, power-of-two leaves)")
        }
        self.init(nodeID: nodeID, seed: ConsensusHash(bytes: seed), leafCount: leaves, rounds: rounds, root: ConsensusHash(bytes: root))
    }
}

/// One challenged leaf and its Merkle path (siblings from the leaf level up).
public struct SpaceOpening: Sendable, Hashable {
    public var index: Int
    public var leaf: ConsensusHash
    public var path: [ConsensusHash]
}

/// A plot on disk: every level of the Merkle tree, leaves first, 32 bytes per node.
public struct SpacePlot {
    public let commitment: SpaceCommitment
    private let path: String

    /// The leaf at `index`: `rounds` chained SHA-256 over (node id, seed, index).
    public static func leaf(nodeID: [UInt8], seed: ConsensusHash, index: Int, rounds: Int) -> ConsensusHash {
        var encoder = CanonicalEncoder()
        encoder.append("hypermesh-plot-leaf")
        encoder.append(nodeID)
        encoder.append(seed)
        encoder.append(index)
        var value = Array(SHA256.hash(data: encoder.bytes))
        for _ in 1..<max(rounds, 1) { value = Array(SHA256.hash(data: value)) }
        return ConsensusHash(bytes: value)
    }

    static func parent(_ left: ConsensusHash, _ right: ConsensusHash) -> ConsensusHash {
        ConsensusHash.of([1] + left.bytes + right.bytes)
    }

    /// Computes the plot (slow by design) and writes it to `path`.
    public static func create(at path: String, nodeID: [UInt8], seed: ConsensusHash, leafCount: Int, rounds: Int) throws
        -> SpacePlot
    {
        precondition(leafCount > 1 && leafCount & (leafCount - 1) == 0, "a plot has a power-of-two number of leaves")
        var level = (0..<leafCount).map { Self.leaf(nodeID: nodeID, seed: seed, index: $0, rounds: rounds) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(leafCount * 64)
        while true {
            for node in level { bytes.append(contentsOf: node.bytes) }
            if level.count == 1 { break }
            level = stride(from: 0, to: level.count, by: 2).map { Self.parent(level[$0], level[$0 + 1]) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        let commitment = SpaceCommitment(nodeID: nodeID, seed: seed, leafCount: leafCount, rounds: rounds, root: level[0])
        try Data(commitment.line.utf8).write(to: URL(fileURLWithPath: path + ".commitment"), options: .atomic)
        return SpacePlot(commitment: commitment, path: path)
    }

    /// A plot made earlier: its commitment from `PATH.commitment`, checked against the file's size.
    public static func open(at path: String) throws -> SpacePlot {
        guard let text = FileManager.default.contents(atPath: path + ".commitment") else {
            throw HyperMeshError.notFound("no plot commitment at \(path).commitment (make the plot with `hypermesh consensus plot`)")
        }
        let commitment = try SpaceCommitment(line: String(decoding: text, as: UTF8.self), file: path + ".commitment")
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        guard size == (2 * commitment.leafCount - 1) * 32 else {
            throw HyperMeshError.corruptData("\(path): \(size) bytes, a plot of \(commitment.leafCount) leaves has \((2 * commitment.leafCount - 1) * 32)")
        }
        return SpacePlot(commitment: commitment, path: path)
    }

    /// The challenged indexes for `challenge` (e.g. the latest committed block hash).
    public static func indexes(challenge: ConsensusHash, commitment: SpaceCommitment, count: Int) -> [Int] {
        (0..<count).map { j in
            var encoder = CanonicalEncoder()
            encoder.append(challenge)
            encoder.append(commitment.root)
            encoder.append(j)
            let hash = ConsensusHash.of(encoder.bytes).bytes
            let value = hash.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return Int(value % UInt64(commitment.leafCount))
        }
    }

    /// Reads the challenged leaves and their paths from the plot file.
    public func prove(challenge: ConsensusHash, count: Int) throws -> [SpaceOpening] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: self.path))
        defer { try? handle.close() }
        func node(level: Int, index: Int) throws -> ConsensusHash {
            var offset = 0
            var width = self.commitment.leafCount
            for _ in 0..<level {
                offset += width
                width /= 2
            }
            try handle.seek(toOffset: UInt64((offset + index) * 32))
            guard let data = try handle.read(upToCount: 32), data.count == 32 else {
                throw CocoaError(.fileReadCorruptFile)
            }
            return ConsensusHash(bytes: Array(data))
        }
        let depth = self.commitment.leafCount.trailingZeroBitCount
        return try Self.indexes(challenge: challenge, commitment: self.commitment, count: count).map { index in
            var path: [ConsensusHash] = []
            var position = index
            for level in 0..<depth {
                path.append(try node(level: level, index: position ^ 1))
                position /= 2
            }
            return SpaceOpening(index: index, leaf: try node(level: 0, index: index), path: path)
        }
    }

    /// A validator's check: the right indexes, each leaf recomputed from (node id, seed), each path leading to
    /// the committed root, and the answer in time.
    public static func verify(_ openings: [SpaceOpening], commitment: SpaceCommitment, challenge: ConsensusHash,
                              count: Int, answeredAfter elapsed: Duration, deadline: Duration) -> ProofVerdict {
        guard elapsed <= deadline else { return .refused("space: answered after \(elapsed), deadline \(deadline)") }
        let expected = Self.indexes(challenge: challenge, commitment: commitment, count: count)
        guard openings.map(\.index) == expected else { return .refused("space: the answer opens other leaves than challenged") }
        let depth = commitment.leafCount.trailingZeroBitCount
        for opening in openings {
            guard opening.leaf == Self.leaf(nodeID: commitment.nodeID, seed: commitment.seed, index: opening.index,
                                            rounds: commitment.rounds) else {
                return .refused("space: leaf \(opening.index) is not derived from the node id and plot seed")
            }
            guard opening.path.count == depth else { return .refused("space: the path of leaf \(opening.index) has the wrong length") }
            var hash = opening.leaf
            var position = opening.index
            for sibling in opening.path {
                hash = position & 1 == 0 ? Self.parent(hash, sibling) : Self.parent(sibling, hash)
                position /= 2
            }
            guard hash == commitment.root else { return .refused("space: the Merkle path of leaf \(opening.index) does not reach the root") }
        }
        return .accepted
    }
}
