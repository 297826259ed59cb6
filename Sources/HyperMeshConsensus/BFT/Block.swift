/// A quorum certificate: n − f validators' signed votes for one block in one view.
public struct QuorumCertificate: Sendable, Hashable {
    public var block: ConsensusHash
    public var height: UInt64
    public var view: UInt64
    /// (validator, signature over ``Vote/signedBytes``), sorted by validator.
    public var signatures: [Signed]

    public struct Signed: Sendable, Hashable {
        public var validator: Int
        public var signature: [UInt8]
    }

    /// The certificate of the genesis block, trusted by construction.
    public static func genesis(_ block: ConsensusHash) -> QuorumCertificate {
        QuorumCertificate(block: block, height: 0, view: 0, signatures: [])
    }

    /// The certificate of an epoch's base block (the block that ended the epoch before), trusted by the epoch
    /// that builds on it: what its first block's justification is.
    public static func base(_ block: Block) -> QuorumCertificate {
        QuorumCertificate(block: block.hash, height: block.height, view: block.view, signatures: [])
    }

    /// Valid when `quorum` distinct validators signed this block and view in the epoch that builds on `genesis`
    /// at `genesisHeight` (the epoch's base block needs no signatures).
    public func isValid(quorum: Int, validators: Int, signer: any ConsensusSigner, genesis: ConsensusHash,
                        genesisHeight: UInt64 = 0) -> Bool {
        if self.block == genesis && self.height == genesisHeight { return true }
        var seen = Set<Int>()
        let message = Vote.signedBytes(block: self.block, height: self.height, view: self.view, epochBase: genesis)
        for signed in self.signatures where (0..<validators).contains(signed.validator) && !seen.contains(signed.validator) {
            if signer.verify(signed.signature, of: message, by: signed.validator) { seen.insert(signed.validator) }
        }
        return seen.count >= quorum
    }
}

/// One validator's vote for a block.
public struct Vote: Sendable, Hashable {
    public var validator: Int
    public var block: ConsensusHash
    public var height: UInt64
    public var view: UInt64
    public var signature: [UInt8]

    /// What a validator signs. Votes of a later epoch also cover the epoch's base block, so a vote cast in one
    /// epoch never counts in another (a validator's views start over in each).
    static func signedBytes(block: ConsensusHash, height: UInt64, view: UInt64, epochBase: ConsensusHash) -> [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append("hotstuff-vote")
        encoder.append(block)
        encoder.append(height)
        encoder.append(view)
        if epochBase != Block.genesis.hash {
            encoder.append("epoch")
            encoder.append(epochBase)
        }
        return encoder.bytes
    }
}

/// A block of chained HotStuff: it extends `parent`, carries the QC of its justification, and the
/// operations it orders, plus the work difficulty the proposer announces.
public struct Block: Sendable, Hashable {
    public let parent: ConsensusHash
    public let height: UInt64
    public let view: UInt64
    public let proposer: Int
    public let justify: QuorumCertificate
    public let operations: [Operation]
    public let workBits: Int
    public let hash: ConsensusHash

    public init(parent: ConsensusHash, height: UInt64, view: UInt64, proposer: Int, justify: QuorumCertificate,
                operations: [Operation], workBits: Int) {
        self.parent = parent
        self.height = height
        self.view = view
        self.proposer = proposer
        self.justify = justify
        self.operations = operations
        self.workBits = workBits
        var encoder = CanonicalEncoder()
        encoder.append("hotstuff-block")
        encoder.append(parent)
        encoder.append(height)
        encoder.append(view)
        encoder.append(proposer)
        encoder.append(justify.block)
        encoder.append(justify.view)
        encoder.append(workBits)
        encoder.append(operations.count)
        for operation in operations {
            encoder.append(operation.digest)
            encoder.append(operation.work.nonce)
            encoder.append(operation.signature)
        }
        self.hash = ConsensusHash.of(encoder.bytes)
    }

    public static let genesis = Block(parent: .zero, height: 0, view: 0, proposer: -1,
                                      justify: QuorumCertificate(block: .zero, height: 0, view: 0, signatures: []),
                                      operations: [], workBits: 0)
}

/// What validators send each other.
public enum ConsensusMessage: Sendable {
    /// The leader of `block.view` proposes.
    case proposal(Block)
    /// A vote, sent to the leader of the next view.
    case vote(Vote)
    /// A validator entering `view` (after a timeout, or to catch up) tells the others its highest QC and how
    /// far it has committed, so validators ahead of it can send what it lacks.
    case newView(view: UInt64, highQC: QuorumCertificate, committed: UInt64, from: Int)
    /// Asks for a block and its ancestors down to `above`.
    case fetch(ConsensusHash, above: UInt64, from: Int)
    /// Blocks answering a fetch, oldest first.
    case blocks([Block])
    /// A validator's newest history checkpoints (`first` is the index of the first), with the values mixed
    /// into the spans between them: what operations' time references are checked against.
    case history(from: Int, first: UInt64, checkpoints: [ConsensusHash], mixes: [ConsensusHash])
}
