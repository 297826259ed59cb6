import Foundation
import HyperMeshCore

/// One validator of chained HotStuff (Yin, Malkhi, Reiter, Gueta, Abraham: "HotStuff: BFT Consensus with
/// Linearity and Responsiveness", PODC 2019 — the event-driven form, Algorithm 4/5, with a round-robin
/// pacemaker).
///
/// A pure state machine: every input (`submit`, `receive`, `timerFired`) returns the messages to send; the
/// caller (the simulator, or a process's transport) delivers them and calls ``timeoutDeadline`` to set the
/// timer. Safety rules, as in the paper: vote at most once per view and only forward (`votedView`), only for
/// a block that extends the locked block or whose justification is newer than the lock; lock on the parent
/// of a newly certified block; commit a block when it heads a three-chain of direct parents in consecutive
/// views. Heights count blocks, views count rounds (a failed view leaves no block), as in DiemBFT.
public final class Replica {
    public enum Behavior: String, Sendable, CaseIterable {
        case honest
        /// Sends nothing at all.
        case silent
        /// As leader, proposes two different blocks for the same view to the two halves of the validators.
        case equivocate
        /// Votes for every proposal it sees, ignoring the safety rules.
        case doubleVote
        /// As leader, slips an operation with a forged work proof into its blocks.
        case invalidProofs
        /// As leader, shows its freshest QC to one validator only (which may commit on it) and proposes to the
        /// rest a block forking below it — what HotStuff's locking rule exists to refuse.
        case fork
    }

    /// Where a message goes.
    public enum Destination: Sendable, Equatable {
        case all
        case one(Int)
        case some([Int])
    }

    public struct Outgoing: Sendable {
        public var destination: Destination
        public var message: ConsensusMessage
        /// The validator epoch the message belongs to, whose numbering ``destination`` uses: `nil` while the replica
        /// builds it, set to the epoch of the input that made it before it leaves.
        public var epoch: UInt64?

        public init(destination: Destination, message: ConsensusMessage, epoch: UInt64? = nil) {
            self.destination = destination
            self.message = message
            self.epoch = epoch
        }
    }

    /// This replica's participant index in the current epoch; -1 when it is not one of its validators.
    public internal(set) var id: Int
    /// Who this replica is across epochs (a node id, or a key index for fixed sets of keys).
    public let identity: String
    /// The current epoch's validators, quorum and signer; the rest stays as configured.
    public internal(set) var configuration: ReplicaConfiguration
    public let behavior: Behavior
    /// The block the current epoch builds on: the global genesis in epoch 0, then the block that ended the epoch
    /// before.
    var genesis = Block.genesis
    /// The current validator epoch (``ValidatorEpoch/number``).
    public internal(set) var epoch: UInt64 = 0
    /// Proofs that the epochs that ended here ended where they did, by epoch: what a validator still in one of
    /// them is sent to catch up.
    var epochProofs: [UInt64: EpochProof] = [:]
    /// The epoch each input began in: the messages it produces are sent in it.
    var inputEpoch: UInt64 = 0
    /// Set while the initializer applies the stored chain again.
    var replaying = false

    // Persistent state: what a restarted validator reads back from its store.
    var blocks: [ConsensusHash: Block] = [:]
    /// The highest view voted in: at most one vote per view, views only forward.
    var votedView: UInt64 = 0 { didSet { self.safetyChanged = true } }
    var locked: Block { didSet { self.safetyChanged = true } }
    public internal(set) var highQC: QuorumCertificate { didSet { self.safetyChanged = true } }
    /// The QC whose three-chain made the latest commit: proof of that commit for validators behind.
    var commitQC: QuorumCertificate { didSet { self.safetyChanged = true } }
    /// Where the persistent state is written, at the end of every input; `nil`: memory only.
    let storage: (any ReplicaStorage)?
    var unsaved = ReplicaChanges()
    var safetyChanged = false
    /// Why the store refused a write; the replica sends nothing more once it is set.
    public internal(set) var storageFailure: String?
    /// Committed blocks in order (genesis not included).
    public internal(set) var committed: [Block] = []
    public internal(set) var ledger: LedgerState
    var committedOperations: Set<ConsensusHash> = []

    // Volatile state.
    public internal(set) var view: UInt64 = 1
    var lastProgressMilliseconds: UInt64 = 0
    var consecutiveTimeouts = 0
    var votes: [ConsensusHash: [Int: [UInt8]]] = [:]
    var newViews: [UInt64: [Int: QuorumCertificate]] = [:]
    var proposedViews: Set<UInt64> = []
    var mempool: [ConsensusHash: Operation] = [:]
    var mempoolOrder: [ConsensusHash] = []
    var waitingForParent: [ConsensusHash: [Block]] = [:]
    var verifiedCertificates: Set<QuorumCertificate> = []
    /// The block voted for last: while it (or a block below it) carries uncommitted operations, the view
    /// timer runs — a validator that restarted with an empty mempool must still help views advance.
    var lastVoted: ConsensusHash?
    var parked: [ConsensusHash: Operation] = [:]
    /// This validator's history chain (PoTime), started when the replica was: a restarted validator starts
    /// a new one, and the others replace the old.
    public internal(set) var history: HistoryChain
    let historyOrigin: UInt64
    /// The other validators' chains, as far as their `history` messages showed them.
    var peerHistories: [Int: HistoryChain] = [:]
    /// The tick of the checkpoint published one announcement before the latest.
    var previouslyPublished: TimeReference?
    var latestPublished: TimeReference?
    /// When this validator committed each height (index height − 1): the start of PoSpace deadlines.
    var commitTimes: [UInt64] = []
    /// Refusals since the replica started (``refusals`` keeps the last 1,000).
    public internal(set) var refusalCount = 0
    /// Why proposals, votes or operations were refused, in order (the last 1,000).
    public internal(set) var refusals: [String] = []
    /// View changes caused by timeouts.
    public internal(set) var timeouts = 0
    var clock: UInt64 = 0

    /// Epoch 0's validator `id` (its identity ``ReplicaConfiguration/members```[id]`).
    public convenience init(id: Int, configuration: ReplicaConfiguration, behavior: Behavior = .honest,
                            storage: (any ReplicaStorage)? = nil, now: UInt64 = 0) throws {
        try self.init(identity: configuration.members[id].nodeID, configuration: configuration, behavior: behavior,
                      storage: storage, now: now)
    }

    /// A replica starting from what `storage` holds (nothing on first start: genesis), or from genesis in
    /// memory when `storage` is `nil`. The committed blocks are applied again to rebuild the ledger, crossing the
    /// epochs they ended; the replica then takes part in the last one if `identity` is one of its validators.
    public init(identity: String, configuration: ReplicaConfiguration, behavior: Behavior = .honest,
                storage: (any ReplicaStorage)? = nil, now: UInt64 = 0) throws {
        self.identity = identity
        self.id = configuration.members.firstIndex { $0.nodeID == identity } ?? -1
        self.ledger = LedgerState(genesisValidators: configuration.members)
        self.configuration = configuration
        self.behavior = behavior
        self.storage = storage
        self.locked = Block.genesis
        self.highQC = QuorumCertificate.genesis(Block.genesis.hash)
        self.commitQC = self.highQC
        self.blocks[Block.genesis.hash] = Block.genesis
        self.lastProgressMilliseconds = now
        self.historyOrigin = now
        self.history = HistoryChain(seed: Self.historySeed(validator: max(self.id, 0), origin: now),
                                    checkpointInterval: configuration.history.checkpointInterval)
        self.clock = now
        guard let storage else { return }
        let snapshot = try storage.loadSnapshot()
        for proof in snapshot.epochProofs { self.epochProofs[proof.epoch] = proof }
        for block in snapshot.committed { self.blocks[block.hash] = block }
        self.replaying = true
        if let tip = snapshot.committed.last { self.apply(committing: tip) }
        self.replaying = false
        for block in snapshot.pending where block.height > self.committedHeight { self.blocks[block.hash] = block }
        if let safety = snapshot.safety, safety.epoch == self.epoch {
            guard let locked = self.blocks[safety.locked] else {
                throw HyperMeshError.corruptData("the stored lock names block \(safety.locked), which the store does not hold")
            }
            self.votedView = safety.votedView
            self.locked = locked
            self.highQC = safety.highQC
            self.commitQC = safety.commitQC
        }
        self.view = max(self.votedView, self.highQC.view) + 1
        self.inputEpoch = self.epoch
        self.unsaved = ReplicaChanges()
        self.safetyChanged = false
    }

    public var committedHeight: UInt64 { self.committed.last?.height ?? 0 }

    /// Whether there is work that needs views to advance: operations not yet committed.
    public var hasPendingWork: Bool {
        !self.mempool.isEmpty || self.uncommittedBlocksCarryOperations || self.chainCarriesOperations(from: self.lastVoted)
    }

    /// When ``timerFired(now:)`` is due; `nil` with nothing pending.
    public var timeoutDeadline: UInt64? {
        guard self.hasPendingWork, self.behavior != .silent, self.isMember else { return nil }
        let backoff = UInt64(1) << UInt64(min(self.consecutiveTimeouts, 6))
        return self.lastProgressMilliseconds + self.configuration.baseTimeoutMilliseconds * backoff
    }

    // MARK: - Inputs

    /// A client's operation: checked (work, signature, drift) and queued.
    public func submit(_ operation: Operation, now: UInt64) -> [Outgoing] {
        self.begin(now: now)
        guard self.isMember else { return [] }
        return self.flush(self.admit(operation, now: now))
    }

    /// Whether this replica is one of the current epoch's validators.
    public var isMember: Bool { self.id >= 0 }

    /// The validators of epoch `number`, as far as the committed chain shows them.
    public func members(ofEpoch number: UInt64) -> [ValidatorMember]? {
        self.ledger.epochs.indices.contains(Int(number)) ? self.ledger.epochs[Int(number)].members : nil
    }

    func begin(now: UInt64) {
        self.clock = now
        self.inputEpoch = self.epoch
    }

    func admit(_ operation: Operation, now: UInt64) -> [Outgoing] {
        let digest = operation.digest
        guard !self.committedOperations.contains(digest), self.mempool[digest] == nil else { return [] }
        // A tick of a history this validator has not seen that far yet is not wrong, only early: park the
        // operation until that validator's next window arrives.
        if self.configuration.requirements.time, let reference = operation.time, reference.validator != self.id,
           (0..<self.configuration.validators).contains(reference.validator),
           reference.tick > (self.peerHistories[reference.validator]?.tick ?? 0) || self.peerHistories[reference.validator] == nil {
            if case .refused(let reason) = self.checkAllButTime(operation) {
                self.refuse("operation \(operation): \(reason)")
            } else if self.parked.count < Self.maximumParked {
                self.parked[digest] = operation
            }
            return []
        }
        if case .refused(let reason) = self.check(operation) {
            self.refuse("operation \(operation): \(reason)")
            return []
        }
        // Admission control: a filling queue costs new operations more work.
        let demanded = self.admissionWorkBits
        if self.configuration.requirements.work && demanded > self.configuration.workBits,
           case .refused(let reason) = operation.work.verify(digest: digest, bits: demanded) {
            self.refuse("operation \(operation): \(reason) while \(self.mempool.count) operations wait")
            return []
        }
        if !self.hasPendingWork { self.lastProgressMilliseconds = now }
        self.mempool[digest] = operation
        self.mempoolOrder.append(digest)
        return self.proposeIfLeader(now: now)
    }

    /// Operations waiting for the history their time reference names (at most this many).
    static let maximumParked = 10_000

    /// A message of epoch 0's validators.
    public func receive(_ message: ConsensusMessage, now: UInt64) -> [Outgoing] {
        self.receive(message, epoch: 0, now: now)
    }

    /// A message of the validators of `epoch`. One from an epoch this replica has left is answered with what
    /// the sender needs to leave it too (``EpochProof``); one from an epoch it has not reached yet is dropped:
    /// this replica's own announcements bring it the proof.
    public func receive(_ message: ConsensusMessage, epoch: UInt64, now: UInt64) -> [Outgoing] {
        self.begin(now: now)
        guard self.behavior != .silent else { return [] }
        guard epoch == self.epoch else {
            return epoch < self.epoch ? self.flush(self.helpLeave(epoch: epoch, after: message)) : []
        }
        guard self.isMember else { return [] }
        let out: [Outgoing]
        switch message {
        case .proposal(let block): out = self.onProposal(block, now: now)
        case .vote(let vote): out = self.onVote(vote, now: now)
        case .newView(let view, let qc, let committed, let from):
            out = self.onNewView(view: view, qc: qc, committed: committed, from: from, now: now)
        case .fetch(let hash, let above, let from): out = self.onFetch(hash, above: above, from: from)
        case .blocks(let list): out = self.onBlocks(list, now: now)
        case .history(let from, let first, let checkpoints, let mixes):
            self.onHistory(from: from, first: first, checkpoints: checkpoints, mixes: mixes)
            // Operations that waited for this history can be checked now.
            let ready = self.parked.values.filter { $0.time?.validator == from && $0.time!.tick <= (self.peerHistories[from]?.tick ?? 0) }
                .sorted { $0.digest < $1.digest }
            for operation in ready { self.parked.removeValue(forKey: operation.digest) }
            out = ready.flatMap { self.admit($0, now: now) }
        }
        return self.flush(out)
    }

    /// The view timed out: move to the next and tell its leader our highest QC.
    public func timerFired(now: UInt64) -> [Outgoing] {
        self.begin(now: now)
        guard let deadline = self.timeoutDeadline, now >= deadline else { return [] }
        self.consecutiveTimeouts += 1
        self.timeouts += 1
        self.lastProgressMilliseconds = now
        return self.flush(self.enter(view: self.view + 1, now: now))
    }

    /// Writes what this input changed, in one transaction, before its messages may leave. A store that
    /// fails silences the replica: sending a vote it could forget would let it vote twice after a restart.
    func flush(_ produced: [Outgoing]) -> [Outgoing] {
        guard self.storageFailure == nil else { return [] }
        var out = produced.map { item in
            var item = item
            if item.epoch == nil { item.epoch = self.inputEpoch }
            return item
        }
        if self.epoch != self.inputEpoch {
            // The input ended an epoch: the new one starts at once where this replica leads its first view.
            self.inputEpoch = self.epoch
            out += self.proposeIfLeader(now: self.clock).map { Outgoing(destination: $0.destination, message: $0.message, epoch: self.epoch) }
        }
        guard let storage = self.storage else { return out }
        if self.safetyChanged {
            self.unsaved.safety = SafetyState(votedView: self.votedView, locked: self.locked.hash, highQC: self.highQC,
                                              commitQC: self.commitQC, epoch: self.epoch)
        }
        guard !self.unsaved.isEmpty else { return out }
        do {
            try storage.save(self.unsaved)
        } catch {
            self.storageFailure = "\(error)"
            return []
        }
        self.unsaved = ReplicaChanges()
        self.safetyChanged = false
        return out
    }

    /// Moves to `view` and tells everyone (the new leader collects n − f of these to propose; the others use
    /// them to catch up with a view that f + 1 validators have reached).
    func enter(view: UInt64, now: UInt64) -> [Outgoing] {
        guard view > self.view || self.newViews[view]?[self.id] == nil else { return [] }
        self.view = max(self.view, view)
        let message = ConsensusMessage.newView(view: self.view, highQC: self.highQC, committed: self.committedHeight, from: self.id)
        return [Outgoing(destination: .all, message: message)]
            + self.onNewView(view: self.view, qc: self.highQC, committed: self.committedHeight, from: self.id, now: now)
    }

    // MARK: - Proposals and votes

    func onProposal(_ block: Block, now: UInt64) -> [Outgoing] {
        guard self.blocks[block.hash] == nil else { return [] }
        guard block.proposer == self.configuration.leader(of: block.view) else {
            self.refuse("block \(block.hash) of view \(block.view) from \(block.proposer), not the view's leader")
            return []
        }
        guard block.justify.block == block.parent, block.height == block.justify.height + 1,
              self.isValid(block.justify) else {
            self.refuse("block \(block.hash): its justification is not a valid QC of its parent")
            return []
        }
        guard self.blocks[block.parent] != nil else {
            self.waitingForParent[block.parent, default: []].append(block)
            return [Outgoing(destination: .one(block.proposer),
                             message: .fetch(block.parent, above: self.committedHeight, from: self.id))]
        }
        self.store(block)
        var out = self.processCertificate(block.justify, now: now)
        // That certificate may have ended the epoch: the block belongs to the one left.
        guard self.epoch == self.inputEpoch else { return out }
        if block.view >= self.view { out += self.considerVoting(for: block, now: now) }
        out += self.releaseWaiting(on: block.hash, now: now)
        return out
    }

    func considerVoting(for block: Block, now: UInt64) -> [Outgoing] {
        if self.behavior != .doubleVote {
            if case .refused(let reason) = self.checkOperations(of: block) {
                self.refuse("block \(block.hash) not voted: \(reason)")
                return []
            }
            guard block.workBits >= self.configuration.workBits else {
                self.refuse("block \(block.hash) not voted: it announces \(block.workBits) bits of work, below the mesh's \(self.configuration.workBits)")
                return []
            }
            guard block.view > self.votedView else { return [] }
            let safe = self.configuration.brokenRule == .ignoreLock || self.extends(block, self.locked)
                || block.justify.view > self.locked.view
            guard safe else {
                self.refuse("block \(block.hash) not voted: it conflicts with the locked block \(self.locked.hash)")
                return []
            }
            self.votedView = block.view
            self.lastVoted = block.hash
            if self.configuration.brokenRule == .commitOnVote && block.height > self.committedHeight {
                self.commit(block, now: now)
            }
        }
        self.view = max(self.view, block.view + 1)
        self.progress(now: now)
        let signature = self.configuration.signer.sign(Vote.signedBytes(block: block.hash, height: block.height, view: block.view,
                                                                        epochBase: self.genesis.hash),
                                                       as: self.id)
        let vote = Vote(validator: self.id, block: block.hash, height: block.height, view: block.view, signature: signature)
        let leader = self.configuration.leader(of: block.view + 1)
        if leader == self.id { return self.onVote(vote, now: now) }
        return [Outgoing(destination: .one(leader), message: .vote(vote))]
    }

    func onVote(_ vote: Vote, now: UInt64) -> [Outgoing] {
        guard self.configuration.leader(of: vote.view + 1) == self.id,
              self.configuration.signer.verify(vote.signature, of: Vote.signedBytes(block: vote.block, height: vote.height,
                                                                                      view: vote.view, epochBase: self.genesis.hash),
                                               by: vote.validator)
        else { return [] }
        self.votes[vote.block, default: [:]][vote.validator] = vote.signature
        guard let collected = self.votes[vote.block], collected.count >= self.configuration.effectiveQuorum,
              self.blocks[vote.block] != nil, self.highQC.block != vote.block else { return [] }
        let qc = QuorumCertificate(block: vote.block, height: vote.height, view: vote.view,
                                   signatures: collected.keys.sorted().map { .init(validator: $0, signature: collected[$0]!) })
        var out = self.processCertificate(qc, now: now)
        guard self.epoch == self.inputEpoch else { return out }
        if self.view <= vote.view + 1 { self.view = vote.view + 1 }
        out += self.proposeIfLeader(now: now)
        return out
    }

    func onNewView(view: UInt64, qc: QuorumCertificate, committed: UInt64, from: Int, now: UInt64) -> [Outgoing] {
        guard self.isValid(qc) else { return [] }
        var out: [Outgoing] = []
        // A validator behind us (an older QC, fewer commits) catches up, whatever view it is in: the blocks it
        // lacks, then our highest QC.
        if from != self.id && (qc.view < self.highQC.view || committed < self.committedHeight) {
            let highChain = self.chain(endingAt: self.highQC.block, above: committed)
            out += Self.pages(of: highChain, to: from)
            if committed < self.committedHeight {
                // The blocks alone may not show the commit (the QC that did may be on an abandoned fork's tip):
                // send that QC, and its blocks when they are not among those just sent.
                if !highChain.contains(where: { $0.hash == self.commitQC.block }) {
                    out += self.onFetch(self.commitQC.block, above: committed, from: from)
                }
                out.append(Outgoing(destination: .one(from), message: .newView(view: self.view, highQC: self.commitQC,
                                                                                 committed: self.committedHeight, from: self.id)))
            }
            out.append(Outgoing(destination: .one(from), message: .newView(view: self.view, highQC: self.highQC,
                                                                             committed: self.committedHeight, from: self.id)))
        }
        if self.blocks[qc.block] != nil {
            out += self.processCertificate(qc, now: now)
            guard self.epoch == self.inputEpoch else { return out }
        } else if from != self.id {
            out.append(Outgoing(destination: .one(from), message: .fetch(qc.block, above: self.committedHeight, from: self.id)))
        }
        guard view + 1 >= self.view || from == self.id else { return out }
        self.newViews[view, default: [:]][from] = qc
        // View synchronisation: f + 1 validators at `view` or beyond means an honest one is; join them.
        if view > self.view {
            let ahead = Set(self.newViews.filter { $0.key >= view }.flatMap { $0.value.keys })
            if ahead.count > self.configuration.faults {
                self.lastProgressMilliseconds = now
                out += self.enter(view: view, now: now)
                return out
            }
        }
        if view == self.view && self.configuration.leader(of: view) == self.id
            && (self.newViews[view]?.count ?? 0) >= self.configuration.effectiveQuorum {
            out += self.proposeIfLeader(now: now)
        }
        return out
    }

    /// Leader of the current view, holding the QC of the previous one (or n − f new-view messages): propose.
    func proposeIfLeader(now: UInt64) -> [Outgoing] {
        let view = self.view
        guard self.configuration.leader(of: view) == self.id, !self.proposedViews.contains(view), self.behavior != .silent,
              self.blocks[self.highQC.block] != nil else { return [] }
        let certifiedPrevious = self.highQC.view + 1 == view
        let enoughNewViews = (self.newViews[view]?.count ?? 0) >= self.configuration.effectiveQuorum
        guard certifiedPrevious || enoughNewViews || view == 1 else { return [] }
        let operations = self.operationsToPropose(extending: self.highQC.block)
        guard !operations.isEmpty || self.uncommittedBlocksCarryOperations || self.othersMayNotHaveCommitted else { return [] }
        self.proposedViews.insert(view)
        let parent = self.blocks[self.highQC.block]!
        func block(_ operations: [Operation]) -> Block {
            Block(parent: parent.hash, height: parent.height + 1, view: view, proposer: self.id, justify: self.highQC,
                  operations: operations, workBits: self.admissionWorkBits)
        }
        switch self.behavior {
        case .equivocate:
            let first = block(operations)
            let second = block(Array(operations.dropFirst()))
            let half = self.configuration.validators / 2
            var out = [Outgoing(destination: .some(Array(0..<half)), message: .proposal(first)),
                       Outgoing(destination: .some(Array(half..<self.configuration.validators)), message: .proposal(second))]
            out += self.onProposal(self.id < half ? first : second, now: now)
            return out
        case .fork:
            let honest = block(operations)
            // Fork below the block the favoured validator is about to commit (two below the certified one).
            guard let certified = self.blocks[self.highQC.block], let parent = self.blocks[certified.justify.block],
                  let forkBase = self.blocks[parent.justify.block], let grand = self.blocks[forkBase.justify.block],
                  forkBase.height > 0 else {
                return [Outgoing(destination: .all, message: .proposal(honest))] + self.onProposal(honest, now: now)
            }
            let forked = Block(parent: grand.hash, height: grand.height + 1, view: view, proposer: self.id, justify: forkBase.justify,
                               operations: Array(operations.reversed()), workBits: self.admissionWorkBits)
            let favoured = self.id == 0 ? 1 : 0
            let others = (0..<self.configuration.validators).filter { $0 != favoured && $0 != self.id }
            return [Outgoing(destination: .one(favoured), message: .proposal(honest)),
                    Outgoing(destination: .one(favoured), message: .newView(view: view, highQC: self.highQC,
                                                                             committed: self.committedHeight, from: self.id)),
                    Outgoing(destination: .some(others), message: .proposal(forked))]
        case .invalidProofs:
            var forged = operations.first ?? Operation(kind: .stake, proposer: self.id, sequence: .max, subject: "forged",
                                                       amount: 1, timestampMilliseconds: Int64(now))
            forged.work = WorkProof(nonce: forged.work.nonce &+ 1)
            let bad = block([forged] + operations.dropFirst())
            return [Outgoing(destination: .all, message: .proposal(bad))] + self.onProposal(bad, now: now)
        default:
            let proposal = block(operations)
            return [Outgoing(destination: .all, message: .proposal(proposal))] + self.onProposal(proposal, now: now)
        }
    }
}
