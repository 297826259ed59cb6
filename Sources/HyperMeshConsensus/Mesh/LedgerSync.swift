/// What a validator tells a node that follows the ledger: committed blocks above the height it asked for, and
/// the proof that they are committed — HotStuff's three-chain over the newest committed block (`bottom`):
/// its certified child and grandchild in consecutive views, and the quorum certificate of the grandchild.
/// A follower checks every signature itself, so a validator can withhold blocks but not forge them.
public struct LedgerSync: Sendable {
    public var blocks: [Block]
    public var proof: CommitProof?
    /// A recent tick of the validator's history, for the follower's operations to name (PoTime).
    public var time: TimeReference?
    /// Proofs that the epochs ending at or above the height asked for ended where they did: what a follower
    /// needs to trust the next epoch's validators.
    public var epochProofs: [EpochProof] = []

    public struct CommitProof: Sendable {
        public var middle: Block
        public var top: Block
        public var certificate: QuorumCertificate

        public init(middle: Block, top: Block, certificate: QuorumCertificate) {
            self.middle = middle
            self.top = top
            self.certificate = certificate
        }
    }

    public init(blocks: [Block], proof: CommitProof?, time: TimeReference?, epochProofs: [EpochProof] = []) {
        self.blocks = blocks
        self.proof = proof
        self.time = time
        self.epochProofs = epochProofs
    }

    /// Epoch proofs one answer carries at most.
    public static let maximumEpochProofs = 16

    /// Blocks one answer carries at most; the follower asks again from where it got to.
    public static let maximumBlocks = 256
    /// What a request starts with, before the height (8 bytes, big-endian).
    public static let requestTag = Array("hm-ledger-sync/1 ".utf8)

    public static func request(above height: UInt64) -> [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append(height)
        return Self.requestTag + encoder.bytes
    }

    /// The height a request asks above, or `nil` when `bytes` is not a sync request.
    public static func height(ofRequest bytes: [UInt8]) -> UInt64? {
        guard bytes.count == Self.requestTag.count + 8, bytes.starts(with: Self.requestTag) else { return nil }
        var decoder = CanonicalDecoder(Array(bytes.dropFirst(Self.requestTag.count)))
        return try? decoder.uint64("height")
    }

    public var bytes: [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append(self.blocks.count)
        for block in self.blocks { encoder.append(ConsensusWire.encode(block)) }
        if let proof {
            encoder.appendByte(1)
            encoder.append(ConsensusWire.encode(proof.middle))
            encoder.append(ConsensusWire.encode(proof.top))
            encoder.append(ConsensusWire.encode(proof.certificate))
        } else {
            encoder.appendByte(0)
        }
        encoder.append(self.time)
        encoder.append(self.epochProofs.count)
        for proof in self.epochProofs { encoder.append(ConsensusWire.encode(proof)) }
        return encoder.bytes
    }

    static let maximumBlockBytes = 16 << 20

    public init(decoding bytes: [UInt8]) throws(ConsensusWireError) {
        var decoder = CanonicalDecoder(bytes)
        let count = try decoder.count("sync blocks", limit: Self.maximumBlocks, minimumItemBytes: 8 + ConsensusWire.minimumBlockBytes)
        func block(_ what: String) throws(ConsensusWireError) -> Block {
            let start = decoder.offset
            let raw = try decoder.data(what, limit: Self.maximumBlockBytes)
            do {
                return try ConsensusWire.decodeBlock(raw)
            } catch {
                throw ConsensusWireError(offset: start + 8 + error.offset, message: "\(what): \(error.message)")
            }
        }
        var blocks: [Block] = []
        for _ in 0..<count { blocks.append(try block("sync block")) }
        let markerOffset = decoder.offset
        var proof: CommitProof?
        switch try decoder.uint8("sync proof marker") {
        case 0: proof = nil
        case 1:
            let middle = try block("proof middle block")
            let top = try block("proof top block")
            let start = decoder.offset
            let raw = try decoder.data("proof certificate", limit: Self.maximumBlockBytes)
            let certificate: QuorumCertificate
            do {
                certificate = try ConsensusWire.decodeCertificate(raw)
            } catch {
                throw ConsensusWireError(offset: start + 8 + error.offset, message: "proof certificate: \(error.message)")
            }
            proof = CommitProof(middle: middle, top: top, certificate: certificate)
        case let other:
            throw ConsensusWireError(offset: markerOffset, message: "sync proof marker \(other) is neither 0 nor 1")
        }
        let timeOffset = decoder.offset
        switch try decoder.uint8("sync time reference") {
        case 0: self.time = nil
        case 1:
            self.time = TimeReference(validator: try decoder.int("time reference validator"), tick: try decoder.uint64("time reference tick"),
                                      hash: try decoder.hash("time reference hash"))
        case let other:
            throw ConsensusWireError(offset: timeOffset, message: "sync time reference marker \(other) is neither 0 nor 1")
        }
        let proofCount = try decoder.count("sync epoch proofs", limit: Self.maximumEpochProofs,
                                      minimumItemBytes: 8 + 8 * 3 + 2 * ConsensusWire.minimumBlockBytes)
        var epochProofs: [EpochProof] = []
        for _ in 0..<proofCount {
            let start = decoder.offset
            let raw = try decoder.data("epoch proof", limit: Self.maximumBlockBytes)
            do {
                epochProofs.append(try ConsensusWire.decodeEpochProof(raw))
            } catch {
                throw ConsensusWireError(offset: start + 8 + error.offset, message: "epoch proof: \(error.message)")
            }
        }
        self.epochProofs = epochProofs
        try decoder.finish("sync")
        self.blocks = blocks
        self.proof = proof
    }
}

extension Replica {
    /// The three-chain that committed the newest committed block, for followers; `nil` before the first commit
    /// or while this replica lacks the blocks above it.
    public var commitProof: LedgerSync.CommitProof? {
        guard self.committedHeight > 0, let top = self.blocks[self.commitQC.block], let middle = self.blocks[top.parent],
              middle.parent == self.committed.last?.hash else { return nil }
        return LedgerSync.CommitProof(middle: middle, top: top, certificate: self.commitQC)
    }
}
