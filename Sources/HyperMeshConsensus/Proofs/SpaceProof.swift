/// PoSpace as an operation carries it (an `offerPool` when the mesh demands space): the provider's plot
/// commitment, the openings of the leaves challenged by a recently committed block, and the signed binding
/// of its node id to the address where its storage can be reached.
///
/// The challenge comes from the chain, so it could not be known before that block was committed; the
/// validators accept the answer only within a deadline after they committed the block — shorter than
/// recomputing the plot takes (see ``SpacePlot``).
public struct SpaceProof: Sendable, Hashable {
    public var commitment: SpaceCommitment
    /// The committed block whose hash is the challenge.
    public var challengeHeight: UInt64
    public var challengeBlock: ConsensusHash
    public var openings: [SpaceOpening]
    public var binding: AddressBinding

    public init(commitment: SpaceCommitment, challengeHeight: UInt64, challengeBlock: ConsensusHash, openings: [SpaceOpening],
                binding: AddressBinding) {
        self.commitment = commitment
        self.challengeHeight = challengeHeight
        self.challengeBlock = challengeBlock
        self.openings = openings
        self.binding = binding
    }

    /// Answers the challenge of block (`height`, `hash`) from `plot`.
    public static func answer(plot: SpacePlot, height: UInt64, hash: ConsensusHash, count: Int, binding: AddressBinding) throws
        -> SpaceProof
    {
        SpaceProof(commitment: plot.commitment, challengeHeight: height, challengeBlock: hash,
                   openings: try plot.prove(challenge: hash, count: count), binding: binding)
    }

    /// What the operation digest covers of the proof.
    var digest: ConsensusHash { ConsensusHash.of(ConsensusWire.encode(self)) }
}
