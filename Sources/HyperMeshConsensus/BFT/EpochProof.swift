/// Proof that the block ending an epoch (the one whose `reconfigure` committed) is committed, for whoever
/// crosses into the next epoch without having seen that epoch's votes: the ending epoch's blocks above it, each
/// extending the one before and certified by the next one's justification, up to a three-chain in consecutive
/// views, and the certificate of that three-chain's top. The next epoch's base certificate carries no
/// signatures, so without this proof nothing would show that the old validators committed the block that
/// names the new ones.
public struct EpochProof: Sendable, Equatable {
    /// The epoch that ended.
    public var epoch: UInt64
    /// The height of its last block.
    public var endHeight: UInt64
    /// The ended epoch's blocks above its last, oldest first (the first is the last block's child).
    public var blocks: [Block]
    public var certificate: QuorumCertificate

    public init(epoch: UInt64, endHeight: UInt64, blocks: [Block], certificate: QuorumCertificate) {
        self.epoch = epoch
        self.endHeight = endHeight
        self.blocks = blocks
        self.certificate = certificate
    }

    /// Blocks a proof carries at most.
    public static let maximumBlocks = 1024

    /// Why this does not prove `end` committed by the epoch whose certificates `certificates` checks; `nil`
    /// when it does.
    public func problem(end: Block, certificates: EpochCertificates) -> String? {
        guard end.height == self.endHeight, self.blocks.count >= 2, self.blocks.count <= Self.maximumBlocks else {
            return "the epoch proof is not for block \(end.hash) at height \(end.height) or has too few blocks"
        }
        var parent = end
        for block in self.blocks {
            guard block.parent == parent.hash, block.height == parent.height + 1, block.justify.block == parent.hash,
                  block.justify.height == parent.height, certificates.isValid(block.justify) else {
                return "the epoch proof's block \(block.hash) at height \(block.height) is not certified over its parent"
            }
            parent = block
        }
        let top = self.blocks[self.blocks.count - 1]
        let middle = self.blocks[self.blocks.count - 2]
        let bottom = self.blocks.count >= 3 ? self.blocks[self.blocks.count - 3] : end
        guard middle.view == bottom.view + 1, top.view == middle.view + 1 else {
            return "the epoch proof's last blocks are not a three-chain in consecutive views"
        }
        guard self.certificate.block == top.hash, self.certificate.height == top.height, certificates.isValid(self.certificate) else {
            return "the epoch proof's certificate is not a quorum's for block \(top.hash)"
        }
        return nil
    }
}

/// Checks quorum certificates of one epoch: its validators' signatures over votes that name its base block.
public struct EpochCertificates: Sendable {
    public let epoch: ValidatorEpoch
    public let baseHash: ConsensusHash
    let signer: any ConsensusSigner

    public init(epoch: ValidatorEpoch, baseHash: ConsensusHash, signer: any ConsensusSigner) {
        self.epoch = epoch
        self.baseHash = baseHash
        self.signer = signer
    }

    public func isValid(_ certificate: QuorumCertificate) -> Bool {
        certificate.isValid(quorum: self.epoch.quorum, validators: self.epoch.members.count, signer: self.signer,
                            genesis: self.baseHash, genesisHeight: self.epoch.baseHeight)
    }
}
