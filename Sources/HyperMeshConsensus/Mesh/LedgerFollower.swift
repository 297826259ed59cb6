import HyperMeshCore

/// A node that is not a validator keeps its own copy of the committed ledger, built only from blocks it
/// checked itself: each block extends the one before, is certified by a quorum of the validators (its child's
/// justification), and a block counts as committed only under a ``LedgerSync/CommitProof`` — the three-chain of
/// HotStuff's commit rule, every certificate's signatures verified. A validator that lies can delay the
/// follower, never make it apply a block the validators did not commit.
///
/// Not thread-safe: one owner feeds it answers.
public final class LedgerFollower {
    public private(set) var ledger = LedgerState()
    /// The newest committed block this follower applied.
    public private(set) var head: Block = .genesis
    /// Blocks checked to extend ``head``, waiting for a proof that they are committed.
    private var pending: [Block] = []
    private var appliedOperations = Set<ConsensusHash>()
    private let signer: any ConsensusSigner
    private let validators: Int
    private let quorum: Int
    private let minimumStake: Int64
    private let store: LedgerStore?

    /// Follows the validators `validatorNodeIDs` (in the Mesh's order); with `store`, what it committed is kept
    /// there (and read back first: the node's own file, written only by this follower).
    public init(validatorNodeIDs: [String], minimumStake: Int64, store: LedgerStore?) throws {
        precondition(!validatorNodeIDs.isEmpty)
        self.signer = NodeKeySigner(nodeIDs: validatorNodeIDs, privateKey: nil)
        self.validators = validatorNodeIDs.count
        self.quorum = validatorNodeIDs.count - (validatorNodeIDs.count - 1) / 3
        self.minimumStake = minimumStake
        self.store = store
        for block in try store?.blocks() ?? [] { self.apply(block) }
    }

    public var height: UInt64 { self.head.height }

    /// The highest block held, committed or waiting for its proof: what the next request asks above. (Asking
    /// above ``height`` instead would get the same page again and again once the validator is more than a page
    /// ahead: the proof is for its newest block, which that page never reaches.)
    public var heldHeight: UInt64 { (self.pending.last ?? self.head).height }

    /// Takes what a validator answered; returns how many blocks became committed. Throws, saying why, for
    /// an answer that does not check out (nothing of it is kept).
    @discardableResult
    public func accept(_ sync: LedgerSync) throws -> Int {
        var extended = self.pending
        for block in sync.blocks where block.height > (extended.last ?? self.head).height {
            let parent = extended.last ?? self.head
            guard block.height == parent.height + 1, block.parent == parent.hash else {
                throw LedgerFollowerError("block \(block.hash) at height \(block.height) does not extend \(parent.hash) at \(parent.height)")
            }
            try self.checkJustification(of: block, parent: parent)
            extended.append(block)
        }
        self.pending = extended
        guard let proof = sync.proof else { return 0 }
        // The proof commits `bottom`, the parent of `middle`; blocks below it are committed with it.
        let chain = [self.head] + extended
        // Not found: the proof is for a block this follower already has (nothing new), or for one whose
        // ancestors come in a later answer.
        guard let bottomIndex = chain.firstIndex(where: { $0.hash == proof.middle.parent }) else { return 0 }
        guard bottomIndex > 0 else { return 0 }  // the head itself: nothing new
        let bottom = chain[bottomIndex]
        guard proof.top.parent == proof.middle.hash, proof.middle.height == bottom.height + 1, proof.top.height == proof.middle.height + 1
        else { throw LedgerFollowerError("the commit proof's blocks do not form a chain over \(bottom.hash)") }
        guard proof.middle.view == bottom.view + 1, proof.top.view == proof.middle.view + 1 else {
            throw LedgerFollowerError("the commit proof's views \(bottom.view), \(proof.middle.view), \(proof.top.view) are not consecutive")
        }
        try self.checkJustification(of: proof.middle, parent: bottom)
        try self.checkJustification(of: proof.top, parent: proof.middle)
        guard proof.certificate.block == proof.top.hash, proof.certificate.height == proof.top.height,
              self.isValid(proof.certificate) else {
            throw LedgerFollowerError("the commit proof's certificate is not a quorum's for block \(proof.top.hash)")
        }
        let newlyCommitted = Array(chain[1...bottomIndex])
        try self.store?.append(newlyCommitted)
        for block in newlyCommitted { self.apply(block) }
        self.pending.removeFirst(newlyCommitted.count)
        return newlyCommitted.count
    }

    private func checkJustification(of block: Block, parent: Block) throws {
        guard block.justify.block == parent.hash, block.justify.height == parent.height else {
            throw LedgerFollowerError("block \(block.hash) at height \(block.height) is not justified by its parent's certificate")
        }
        guard parent.height == 0 || self.isValid(block.justify) else {
            throw LedgerFollowerError("block \(block.hash) at height \(block.height) carries a certificate without a quorum of valid signatures")
        }
    }

    private func isValid(_ certificate: QuorumCertificate) -> Bool {
        certificate.isValid(quorum: self.quorum, validators: self.validators, signer: self.signer, genesis: Block.genesis.hash)
    }

    /// As a replica applies a committed block: an operation committed twice counts once.
    private func apply(_ block: Block) {
        for operation in block.operations where !self.appliedOperations.contains(operation.digest) {
            self.appliedOperations.insert(operation.digest)
            self.ledger.apply(operation, minimumStake: self.minimumStake, height: block.height)
        }
        self.head = block
    }
}

public struct LedgerFollowerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
