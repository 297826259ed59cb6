import HyperMeshCore

/// A node that is not a validator keeps its own copy of the committed ledger, built only from blocks it
/// checked itself: each block extends the one before, is certified by a quorum of the validators of its epoch
/// (its child's justification), and a block counts as committed only under a ``LedgerSync/CommitProof`` — the
/// three-chain of HotStuff's commit rule, every certificate's signatures verified. Epochs are crossed the way
/// validators cross them: the block whose `reconfigure` committed ends its epoch, an ``EpochProof`` by that
/// epoch's validators must show it committed, and the next epoch's blocks build on it with the validators it
/// names. A validator that lies can delay the follower, never make it apply a block the validators did not
/// commit.
///
/// Not thread-safe: one owner feeds it answers.
public final class LedgerFollower {
    public private(set) var ledger: LedgerState
    /// The newest committed block this follower applied.
    public private(set) var head: Block = .genesis
    /// Blocks checked to extend ``head``, waiting for a proof that they are committed.
    private var pending: [Block] = []
    /// The epoch of each pending block, and of the head (whose certificates certify its children, unless it ended
    /// that epoch).
    private var pendingEpochs: [EpochCertificates] = []
    private var headEpoch: EpochCertificates
    /// The ledger with the pending blocks applied too: which epoch the next block belongs to.
    private var tipLedger: LedgerState
    /// Checked proofs of epochs that ended in pending blocks, kept with them once they are committed.
    private var pendingEpochProofs: [EpochProof] = []
    private var appliedOperations = Set<ConsensusHash>()
    private let verifier: any ConsensusSigner
    private let minimumStake: Int64
    private let store: LedgerStore?

    /// Follows the validators `validatorNodeIDs` (in the Mesh's order); see ``init(genesisValidators:minimumStake:store:)``.
    public convenience init(validatorNodeIDs: [String], minimumStake: Int64, store: LedgerStore?) throws {
        try self.init(genesisValidators: validatorNodeIDs.map { ValidatorMember(nodeID: $0, address: "") },
                      minimumStake: minimumStake, store: store)
    }

    /// Follows a ledger whose epoch 0 is validated by `genesisValidators` (the Mesh's list); with `store`, what
    /// it committed is kept there (and read back first: the node's own file, written only by this follower).
    public init(genesisValidators: [ValidatorMember], minimumStake: Int64, store: LedgerStore?) throws {
        precondition(!genesisValidators.isEmpty)
        self.verifier = NodeKeySigner(nodeIDs: genesisValidators.map(\.nodeID), privateKey: nil)
        self.minimumStake = minimumStake
        self.store = store
        let ledger = LedgerState(genesisValidators: genesisValidators)
        self.ledger = ledger
        self.tipLedger = ledger
        self.headEpoch = EpochCertificates(epoch: ledger.validators!, baseHash: Block.genesis.hash, signer: self.verifier)
        for block in try store?.blocks() ?? [] { self.apply(block) }
        self.tipLedger = self.ledger
    }

    public var height: UInt64 { self.head.height }

    /// The validators of the newest epoch this follower knows of: whom to ask next.
    public var currentValidators: ValidatorEpoch { self.tipLedger.validators! }

    /// The highest block held, committed or waiting for its proof: what the next request asks above. (Asking
    /// above ``height`` instead would get the same page again and again once the validator is more than a page
    /// ahead: the proof is for its newest block, which that page never reaches.)
    public var heldHeight: UInt64 { (self.pending.last ?? self.head).height }

    /// Takes what a validator answered; returns how many blocks became committed. Throws, saying why, for
    /// an answer that does not check out (nothing of it is kept).
    @discardableResult
    public func accept(_ sync: LedgerSync) throws -> Int {
        var extended = self.pending
        var epochs = self.pendingEpochs
        var tip = self.tipLedger
        var endProofs = self.pendingEpochProofs
        let offered = Dictionary(sync.epochProofs.map { ($0.epoch, $0) }, uniquingKeysWith: { first, _ in first })
        extending: for block in sync.blocks where block.height > (extended.last ?? self.head).height {
            let parent = extended.last ?? self.head
            let parentEpoch = epochs.last ?? self.headEpoch
            guard block.height == parent.height + 1, block.parent == parent.hash else {
                throw LedgerFollowerError("block \(block.hash) at height \(block.height) does not extend \(parent.hash) at \(parent.height)")
            }
            var epoch = parentEpoch
            if let next = tip.validators, next.number > parentEpoch.epoch.number {
                // The parent ended its epoch: trust the validators it names only once its own epoch proves it committed.
                guard let proof = offered[parentEpoch.epoch.number] ?? endProofs.first(where: { $0.epoch == parentEpoch.epoch.number })
                else { break extending }
                if let problem = proof.problem(end: parent, certificates: parentEpoch) {
                    throw LedgerFollowerError("epoch \(parentEpoch.epoch.number): \(problem)")
                }
                if !endProofs.contains(proof) { endProofs.append(proof) }
                guard block.justify == .base(parent) else {
                    throw LedgerFollowerError("block \(block.hash) at height \(block.height) starts epoch \(next.number) without building on the block that ended the one before")
                }
                epoch = EpochCertificates(epoch: next, baseHash: parent.hash, signer: self.verifier.forMembers(next.nodeIDs))
            } else {
                try Self.checkJustification(of: block, parent: parent, in: parentEpoch)
            }
            extended.append(block)
            epochs.append(epoch)
            Self.apply(block, to: &tip, minimumStake: self.minimumStake)
        }
        self.pending = extended
        self.pendingEpochs = epochs
        self.tipLedger = tip
        self.pendingEpochProofs = endProofs
        let chain = [self.head] + extended
        // An epoch proof commits the block that ended its epoch: the newest proof there may be until the next
        // epoch commits something.
        var endIndex = 0
        for proof in sync.epochProofs {
            guard let index = chain.firstIndex(where: { $0.height == proof.endHeight }), index > endIndex, index > 0 else { continue }
            if let problem = proof.problem(end: chain[index], certificates: epochs[index - 1]) {
                throw LedgerFollowerError("epoch \(proof.epoch): \(problem)")
            }
            if !self.pendingEpochProofs.contains(proof) { self.pendingEpochProofs.append(proof) }
            endIndex = index
        }
        guard let proof = sync.proof, let bottomIndex = chain.firstIndex(where: { $0.hash == proof.middle.parent }), bottomIndex > endIndex else {
            // No commit proof beyond the end of an epoch (none, one for a block already held, or one whose
            // ancestors come in a later answer).
            return endIndex > 0 ? try self.commit(chain, through: endIndex) : 0
        }
        // The proof commits `bottom`, the parent of `middle`; blocks below it are committed with it.
        let bottom = chain[bottomIndex]
        let bottomEpoch = epochs[bottomIndex - 1]
        guard proof.top.parent == proof.middle.hash, proof.middle.height == bottom.height + 1, proof.top.height == proof.middle.height + 1
        else { throw LedgerFollowerError("the commit proof's blocks do not form a chain over \(bottom.hash)") }
        guard proof.middle.view == bottom.view + 1, proof.top.view == proof.middle.view + 1 else {
            throw LedgerFollowerError("the commit proof's views \(bottom.view), \(proof.middle.view), \(proof.top.view) are not consecutive")
        }
        try Self.checkJustification(of: proof.middle, parent: bottom, in: bottomEpoch)
        try Self.checkJustification(of: proof.top, parent: proof.middle, in: bottomEpoch)
        guard proof.certificate.block == proof.top.hash, proof.certificate.height == proof.top.height,
              bottomEpoch.isValid(proof.certificate) else {
            throw LedgerFollowerError("the commit proof's certificate is not a quorum's for block \(proof.top.hash)")
        }
        var afterBottom = self.ledger
        for block in chain[1...bottomIndex] { Self.apply(block, to: &afterBottom, minimumStake: self.minimumStake) }
        if let next = afterBottom.validators, next.number > bottomEpoch.epoch.number,
           !self.pendingEpochProofs.contains(where: { $0.epoch == bottomEpoch.epoch.number }) {
            // The proof commits the block that ends an epoch: it is that epoch's proof too.
            self.pendingEpochProofs.append(EpochProof(epoch: bottomEpoch.epoch.number, endHeight: bottom.height,
                                                      blocks: [proof.middle, proof.top], certificate: proof.certificate))
        }
        return try self.commit(chain, through: bottomIndex)
    }

    /// Commits `chain[1...index]` (the head is `chain[0]`), with the proofs of the epochs that ended there.
    private func commit(_ chain: [Block], through index: Int) throws -> Int {
        let newlyCommitted = Array(chain[1...index])
        let top = chain[index].height
        try self.store?.append(newlyCommitted)
        try self.store?.append(epochProofs: self.pendingEpochProofs.filter { $0.endHeight <= top })
        for block in newlyCommitted { self.apply(block) }
        self.pending.removeFirst(newlyCommitted.count)
        self.pendingEpochs.removeFirst(newlyCommitted.count)
        self.pendingEpochProofs.removeAll { $0.endHeight <= top }
        return newlyCommitted.count
    }

    private static func checkJustification(of block: Block, parent: Block, in epoch: EpochCertificates) throws {
        guard block.justify.block == parent.hash, block.justify.height == parent.height else {
            throw LedgerFollowerError("block \(block.hash) at height \(block.height) is not justified by its parent's certificate")
        }
        guard epoch.isValid(block.justify) else {
            throw LedgerFollowerError("block \(block.hash) at height \(block.height) carries a certificate without a quorum of valid signatures")
        }
    }

    /// As a replica applies a committed block: an operation committed twice counts once.
    private func apply(_ block: Block) {
        if let next = self.ledger.validators, next.number > self.headEpoch.epoch.number {
            // The head ended its epoch: this block is the next one's.
            self.headEpoch = EpochCertificates(epoch: next, baseHash: self.head.hash, signer: self.verifier.forMembers(next.nodeIDs))
        }
        for operation in block.operations where !self.appliedOperations.contains(operation.digest) {
            self.appliedOperations.insert(operation.digest)
            self.ledger.apply(operation, minimumStake: self.minimumStake, height: block.height)
        }
        self.head = block
    }

    /// The same on a speculative copy that only tells epochs apart: which `reconfigure` counts depends on the
    /// epochs and the removed nodes alone, so only those operations are applied (an operation repeated in a later
    /// block is refused again for naming a past epoch, or a node already removed).
    private static func apply(_ block: Block, to ledger: inout LedgerState, minimumStake: Int64) {
        for operation in block.operations where operation.kind == .reconfigure || operation.kind == .expel {
            ledger.apply(operation, minimumStake: minimumStake, height: block.height)
        }
    }
}

public struct LedgerFollowerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
