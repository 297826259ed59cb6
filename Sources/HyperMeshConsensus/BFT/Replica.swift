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
    }

    public let id: Int
    public let configuration: ReplicaConfiguration
    public let behavior: Behavior
    let genesis = Block.genesis

    // Persistent state: what a restarted validator reads back from its store.
    private(set) var blocks: [ConsensusHash: Block] = [:]
    /// The highest view voted in: at most one vote per view, views only forward.
    private(set) var votedView: UInt64 = 0 { didSet { self.safetyChanged = true } }
    private(set) var locked: Block { didSet { self.safetyChanged = true } }
    public private(set) var highQC: QuorumCertificate { didSet { self.safetyChanged = true } }
    /// The QC whose three-chain made the latest commit: proof of that commit for validators behind.
    private(set) var commitQC: QuorumCertificate { didSet { self.safetyChanged = true } }
    /// Where the persistent state is written, at the end of every input; `nil`: memory only.
    private let storage: (any ReplicaStorage)?
    private var unsaved = ReplicaChanges()
    private var safetyChanged = false
    /// Why the store refused a write; the replica sends nothing more once it is set.
    public private(set) var storageFailure: String?
    /// Committed blocks in order (genesis not included).
    public private(set) var committed: [Block] = []
    public private(set) var ledger = LedgerState()
    private(set) var committedOperations: Set<ConsensusHash> = []

    // Volatile state.
    public private(set) var view: UInt64 = 1
    private var lastProgressMilliseconds: UInt64 = 0
    private var consecutiveTimeouts = 0
    private var votes: [ConsensusHash: [Int: [UInt8]]] = [:]
    private var newViews: [UInt64: [Int: QuorumCertificate]] = [:]
    private var proposedViews: Set<UInt64> = []
    private var mempool: [ConsensusHash: Operation] = [:]
    private var mempoolOrder: [ConsensusHash] = []
    private var waitingForParent: [ConsensusHash: [Block]] = [:]
    private var verifiedCertificates: Set<QuorumCertificate> = []
    /// The block voted for last: while it (or a block below it) carries uncommitted operations, the view
    /// timer runs — a validator that restarted with an empty mempool must still help views advance.
    private var lastVoted: ConsensusHash?
    private var parked: [ConsensusHash: Operation] = [:]
    /// This validator's history chain (PoTime), started when the replica was: a restarted validator starts
    /// a new one, and the others replace the old.
    public private(set) var history: HistoryChain
    private let historyOrigin: UInt64
    /// The other validators' chains, as far as their `history` messages showed them.
    private var peerHistories: [Int: HistoryChain] = [:]
    /// The tick of the checkpoint published one announcement before the latest.
    private var previouslyPublished: TimeReference?
    private var latestPublished: TimeReference?
    /// When this validator committed each height (index height − 1): the start of PoSpace deadlines.
    private var commitTimes: [UInt64] = []
    /// Refusals since the replica started (``refusals`` keeps the last 1,000).
    public private(set) var refusalCount = 0
    /// Why proposals, votes or operations were refused, in order (the last 1,000).
    public private(set) var refusals: [String] = []
    /// View changes caused by timeouts.
    public private(set) var timeouts = 0
    private var clock: UInt64 = 0

    /// A replica starting from what `storage` holds (nothing on first start: genesis), or from genesis in
    /// memory when `storage` is `nil`. The committed blocks are applied again to rebuild the ledger.
    public init(id: Int, configuration: ReplicaConfiguration, behavior: Behavior = .honest,
                storage: (any ReplicaStorage)? = nil, now: UInt64 = 0) throws {
        self.id = id
        self.configuration = configuration
        self.behavior = behavior
        self.storage = storage
        self.locked = Block.genesis
        self.highQC = QuorumCertificate.genesis(Block.genesis.hash)
        self.commitQC = self.highQC
        self.blocks[Block.genesis.hash] = Block.genesis
        self.lastProgressMilliseconds = now
        self.historyOrigin = now
        self.history = HistoryChain(seed: Self.historySeed(validator: id, origin: now),
                                    checkpointInterval: configuration.history.checkpointInterval)
        self.clock = now
        guard let storage else { return }
        let snapshot = try storage.loadSnapshot()
        for block in snapshot.committed { self.blocks[block.hash] = block }
        if let tip = snapshot.committed.last { self.apply(committing: tip) }
        for block in snapshot.pending where block.height > self.committedHeight { self.blocks[block.hash] = block }
        if let safety = snapshot.safety {
            guard let locked = self.blocks[safety.locked] else {
                throw HyperMeshError.corruptData("the stored lock names block \(safety.locked), which the store does not hold")
            }
            self.votedView = safety.votedView
            self.locked = locked
            self.highQC = safety.highQC
            self.commitQC = safety.commitQC
        }
        self.view = max(self.votedView, self.highQC.view) + 1
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
        guard self.hasPendingWork, self.behavior != .silent else { return nil }
        let backoff = UInt64(1) << UInt64(min(self.consecutiveTimeouts, 6))
        return self.lastProgressMilliseconds + self.configuration.baseTimeoutMilliseconds * backoff
    }

    // MARK: - Inputs

    /// A client's operation: checked (work, signature, drift) and queued.
    public func submit(_ operation: Operation, now: UInt64) -> [Outgoing] {
        self.clock = now
        return self.flush(self.admit(operation, now: now))
    }

    private func admit(_ operation: Operation, now: UInt64) -> [Outgoing] {
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

    public func receive(_ message: ConsensusMessage, now: UInt64) -> [Outgoing] {
        self.clock = now
        guard self.behavior != .silent else { return [] }
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

    /// The work new operations must carry now: the mesh's floor, plus one bit per doubling of the queue
    /// beyond ``ReplicaConfiguration/workAdmissionThreshold``. Leaders announce it in their blocks.
    public var admissionWorkBits: Int {
        let threshold = max(self.configuration.workAdmissionThreshold, 1)
        let load = self.mempool.count / threshold
        return min(64, self.configuration.workBits + (load == 0 ? 0 : Int.bitWidth - load.leadingZeroBitCount))
    }

    /// Tells every validator where this one stands (view, highest QC, committed height), so validators ahead
    /// send what it lacks, and publishes the newest checkpoints of its history chain: what a validator does
    /// when it starts and then periodically.
    public func announce(now: UInt64) -> [Outgoing] {
        self.clock = now
        guard self.behavior != .silent, self.storageFailure == nil else { return [] }
        self.advanceHistory(now: now)
        let window = self.history.window(self.configuration.history.window)
        let newest = TimeReference(validator: self.id, tick: self.history.checkpointTick, hash: window.checkpoints.last!)
        if newest != self.latestPublished {
            self.previouslyPublished = self.latestPublished ?? newest
            self.latestPublished = newest
        }
        return [Outgoing(destination: .all, message: .newView(view: self.view, highQC: self.highQC,
                                                               committed: self.committedHeight, from: self.id)),
                Outgoing(destination: .all, message: .history(from: self.id, first: window.first,
                                                               checkpoints: window.checkpoints, mixes: window.mixes))]
    }

    /// What a client of this validator names in its operations' PoTime: a checkpoint published one
    /// announcement ago, so every validator has had time to receive it. `nil` before the first announcement.
    public var timeReferenceForClients: TimeReference? { self.previouslyPublished }

    static func historySeed(validator: Int, origin: UInt64) -> ConsensusHash {
        var encoder = CanonicalEncoder()
        encoder.append("hypermesh-history")
        encoder.append(validator)
        encoder.append(origin)
        return ConsensusHash.of(encoder.bytes)
    }

    /// Hashes the own chain forward to where `now` says it should be, mixing in the latest committed block
    /// at each span's start.
    private func advanceHistory(now: UInt64) {
        let target = (now &- self.historyOrigin) * self.configuration.history.ticksPerSecond / 1000
        guard target > self.history.tick else { return }
        self.history.nextMix = self.committed.last?.hash ?? self.genesis.hash
        self.history.advance(by: Int(target - self.history.tick))
        self.history.trim(keeping: self.configuration.history.window)
    }

    private func onHistory(from: Int, first: UInt64, checkpoints: [ConsensusHash], mixes: [ConsensusHash]) {
        guard from != self.id, (0..<self.configuration.validators).contains(from) else { return }
        var chain = self.peerHistories[from]
            ?? HistoryChain(seed: checkpoints.first ?? .zero, checkpointInterval: self.configuration.history.checkpointInterval)
        if case .refused(let reason) = chain.extend(from: first, checkpoints: checkpoints, mixes: mixes) {
            self.refuse("history of validator \(from): \(reason)")
            return
        }
        chain.trim(keeping: self.configuration.history.window)
        self.peerHistories[from] = chain
    }

    /// The view timed out: move to the next and tell its leader our highest QC.
    public func timerFired(now: UInt64) -> [Outgoing] {
        self.clock = now
        guard let deadline = self.timeoutDeadline, now >= deadline else { return [] }
        self.consecutiveTimeouts += 1
        self.timeouts += 1
        self.lastProgressMilliseconds = now
        return self.flush(self.enter(view: self.view + 1, now: now))
    }

    /// Writes what this input changed, in one transaction, before its messages may leave. A store that
    /// fails silences the replica: sending a vote it could forget would let it vote twice after a restart.
    private func flush(_ out: [Outgoing]) -> [Outgoing] {
        guard self.storageFailure == nil else { return [] }
        guard let storage = self.storage else { return out }
        if self.safetyChanged {
            self.unsaved.safety = SafetyState(votedView: self.votedView, locked: self.locked.hash, highQC: self.highQC,
                                              commitQC: self.commitQC)
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
    private func enter(view: UInt64, now: UInt64) -> [Outgoing] {
        guard view > self.view || self.newViews[view]?[self.id] == nil else { return [] }
        self.view = max(self.view, view)
        let message = ConsensusMessage.newView(view: self.view, highQC: self.highQC, committed: self.committedHeight, from: self.id)
        return [Outgoing(destination: .all, message: message)]
            + self.onNewView(view: self.view, qc: self.highQC, committed: self.committedHeight, from: self.id, now: now)
    }

    // MARK: - Proposals and votes

    private func onProposal(_ block: Block, now: UInt64) -> [Outgoing] {
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
        if block.view >= self.view { out += self.considerVoting(for: block, now: now) }
        out += self.releaseWaiting(on: block.hash, now: now)
        return out
    }

    private func considerVoting(for block: Block, now: UInt64) -> [Outgoing] {
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
        let signature = self.configuration.signer.sign(Vote.signedBytes(block: block.hash, height: block.height, view: block.view),
                                                       as: self.id)
        let vote = Vote(validator: self.id, block: block.hash, height: block.height, view: block.view, signature: signature)
        let leader = self.configuration.leader(of: block.view + 1)
        if leader == self.id { return self.onVote(vote, now: now) }
        return [Outgoing(destination: .one(leader), message: .vote(vote))]
    }

    private func onVote(_ vote: Vote, now: UInt64) -> [Outgoing] {
        guard self.configuration.leader(of: vote.view + 1) == self.id,
              self.configuration.signer.verify(vote.signature, of: Vote.signedBytes(block: vote.block, height: vote.height,
                                                                                      view: vote.view), by: vote.validator)
        else { return [] }
        self.votes[vote.block, default: [:]][vote.validator] = vote.signature
        guard let collected = self.votes[vote.block], collected.count >= self.configuration.effectiveQuorum,
              self.blocks[vote.block] != nil, self.highQC.block != vote.block else { return [] }
        let qc = QuorumCertificate(block: vote.block, height: vote.height, view: vote.view,
                                   signatures: collected.keys.sorted().map { .init(validator: $0, signature: collected[$0]!) })
        var out = self.processCertificate(qc, now: now)
        if self.view <= vote.view + 1 { self.view = vote.view + 1 }
        out += self.proposeIfLeader(now: now)
        return out
    }

    private func onNewView(view: UInt64, qc: QuorumCertificate, committed: UInt64, from: Int, now: UInt64) -> [Outgoing] {
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
    private func proposeIfLeader(now: UInt64) -> [Outgoing] {
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

    // MARK: - Certificates, locks, commits

    /// update(b*) of the paper, for the block `qc` certifies (b''): adopt a higher QC, lock b', commit b.
    private func processCertificate(_ qc: QuorumCertificate, now: UInt64) -> [Outgoing] {
        guard let certified = self.blocks[qc.block] else { return [] }
        if qc.view > self.highQC.view { self.highQC = qc }
        guard let parent = self.blocks[certified.justify.block], let grandparent = self.blocks[parent.justify.block] else {
            return []
        }
        if parent.view > self.locked.view { self.locked = parent }
        if self.configuration.brokenRule == .oneChainCommit {
            if certified.height > self.committedHeight { self.commit(certified, now: now) }
            return []
        }
        // A three-chain of direct parents in consecutive views commits its head (the paper's consecutive
        // heights, where every view has a block). Every block below a certified one is certified by its
        // child's justification, so look down the whole uncommitted chain: a QC processed before its
        // ancestors arrived is not lost.
        var cursor: Block? = certified
        var child: Block?
        while let top = cursor, top.height > self.committedHeight + 2 {
            guard let middle = self.blocks[top.parent], let bottom = self.blocks[middle.parent] else { break }
            if top.view == middle.view + 1 && middle.view == bottom.view + 1 {
                if bottom.height > self.committedHeight {
                    self.commit(bottom, now: now)
                    self.commitQC = child?.justify ?? qc
                }
                break
            }
            child = top
            cursor = middle
        }
        return []
    }

    private func commit(_ block: Block, now: UInt64) {
        let newlyCommitted = self.apply(committing: block)
        if self.storage != nil { self.unsaved.committed += newlyCommitted }
        self.progress(now: now)
    }

    /// Appends `block` and its uncommitted ancestors to the committed chain and applies their operations;
    /// returns them, oldest first.
    @discardableResult
    private func apply(committing block: Block) -> [Block] {
        var chain: [Block] = []
        var cursor: Block? = block
        while let current = cursor, current.height > self.committedHeight {
            chain.append(current)
            cursor = self.blocks[current.parent]
        }
        chain.reverse()
        for committedBlock in chain {
            self.committed.append(committedBlock)
            self.commitTimes.append(self.clock)
            for operation in committedBlock.operations {
                let digest = operation.digest
                guard !self.committedOperations.contains(digest) else { continue }
                self.committedOperations.insert(digest)
                self.ledger.apply(operation, minimumStake: self.configuration.requirements.minimumStake)
                // `mempoolOrder` keeps the digest until the next compaction; lookups skip what is gone.
                self.mempool.removeValue(forKey: digest)
            }
        }
        if self.mempoolOrder.count > 64 && self.mempoolOrder.count > 2 * self.mempool.count {
            self.mempoolOrder.removeAll { self.mempool[$0] == nil }
        }
        return chain
    }

    private func progress(now: UInt64) {
        self.consecutiveTimeouts = 0
        self.lastProgressMilliseconds = now
    }

    private func extends(_ block: Block, _ ancestor: Block) -> Bool {
        var cursor: Block? = block
        while let current = cursor, current.height >= ancestor.height {
            if current.hash == ancestor.hash { return true }
            cursor = self.blocks[current.parent]
        }
        return false
    }

    private var uncommittedBlocksCarryOperations: Bool { self.chainCarriesOperations(from: self.highQC.block) }

    /// Whether `tip` or one of its ancestors above the committed height carries operations.
    private func chainCarriesOperations(from tip: ConsensusHash?) -> Bool {
        var cursor = tip.flatMap { self.blocks[$0] }
        while let current = cursor, current.height > self.committedHeight {
            if !current.operations.isEmpty { return true }
            cursor = self.blocks[current.parent]
        }
        return false
    }

    /// Whether the highest QC, which only this leader may hold yet, is what commits a block with operations
    /// for the others: then one more (empty) block must carry it to them, or they wait for a timeout.
    private var othersMayNotHaveCommitted: Bool {
        var cursor = self.blocks[self.highQC.block]
        for _ in 0..<3 {
            guard let current = cursor, current.height > 0 else { return false }
            if !current.operations.isEmpty { return true }
            cursor = self.blocks[current.parent]
        }
        return false
    }

    /// Mempool operations not already in the uncommitted chain ending at `tip`, in arrival order.
    private func operationsToPropose(extending tip: ConsensusHash) -> [Operation] {
        var inChain = Set<ConsensusHash>()
        var cursor = self.blocks[tip]
        while let current = cursor, current.height > self.committedHeight {
            for operation in current.operations { inChain.insert(operation.digest) }
            cursor = self.blocks[current.parent]
        }
        var result: [Operation] = []
        var expired: [ConsensusHash] = []
        for digest in self.mempoolOrder where !inChain.contains(digest) {
            guard let operation = self.mempool[digest] else { continue }
            // Only the time proof can go bad while an operation waits: drop the stale ones.
            if case .refused(let reason) = self.checkTime(operation) {
                self.refuse("operation \(operation) dropped: \(reason)")
                expired.append(digest)
                continue
            }
            result.append(operation)
            if result.count == self.configuration.maximumBatch { break }
        }
        for digest in expired { self.mempool.removeValue(forKey: digest) }
        return result
    }

    // MARK: - Validity

    /// The proofs one operation must carry (stake is checked again, against the ledger, when applied).
    func check(_ operation: Operation) -> ProofVerdict {
        if case .refused(let reason) = self.checkAllButTime(operation) { return .refused(reason) }
        return self.checkTime(operation)
    }

    /// Work, stake and space: what cannot change while an operation waits.
    private func checkAllButTime(_ operation: Operation) -> ProofVerdict {
        let required = self.configuration.requirements
        if required.work, case .refused(let reason) = operation.work.verify(digest: operation.digest,
                                                                            bits: self.configuration.workBits) {
            return .refused(reason)
        }
        if required.stake && !self.configuration.signer.verify(operation.signature, of: operation.digest.bytes,
                                                               by: operation.proposer) {
            return .refused("stake: the signature is not the proposer's")
        }
        if required.space && operation.kind == .offerPool, case .refused(let reason) = self.checkSpace(operation) {
            return .refused(reason)
        }
        return .accepted
    }

    /// PoSpace for an offered pool: the proposer's own plot, big enough, challenged by a block this
    /// validator committed, answered within the deadline, with a valid binding to its address.
    private func checkSpace(_ operation: Operation) -> ProofVerdict {
        guard let proof = operation.space else { return .refused("space: an offered pool needs a proof of space") }
        let settings = self.configuration.space
        let verdict = proof.binding.verify(now: Date(timeIntervalSince1970: Double(self.clock) / 1000),
                                           maximumAgeMilliseconds: settings.bindingMaximumAgeMilliseconds,
                                           maximumDriftMilliseconds: self.configuration.requirements.maximumClockDriftMilliseconds)
        if case .refused = verdict { return verdict }
        guard proof.commitment.nodeID.hexString == proof.binding.nodeID else {
            return .refused("space: the plot belongs to another node than the address binding")
        }
        if let proposer = self.configuration.signer.nodeID(of: operation.proposer), proposer != proof.binding.nodeID {
            return .refused("space: the plot is not the proposer's (node \(proposer.prefix(12))…)")
        }
        guard proof.commitment.leafCount >= settings.minimumLeaves, proof.commitment.rounds >= settings.minimumRounds else {
            return .refused("space: a plot of \(proof.commitment.leafCount) leaves × \(proof.commitment.rounds) rounds is below the "
                + "\(settings.minimumLeaves) × \(settings.minimumRounds) required")
        }
        let height = proof.challengeHeight
        let onChain = height == 0 ? proof.challengeBlock == self.genesis.hash
            : height <= self.committedHeight && self.committed[Int(height) - 1].hash == proof.challengeBlock
        guard onChain else { return .refused("space: the challenge block \(proof.challengeBlock) at height \(height) is not on this validator's chain") }
        let committedAt = height == 0 ? self.historyOrigin : self.commitTimes[Int(height) - 1]
        let elapsed = Duration.milliseconds(Int64(self.clock &- committedAt))
        return SpacePlot.verify(proof.openings, commitment: proof.commitment, challenge: proof.challengeBlock,
                                count: settings.challenges, answeredAfter: elapsed,
                                deadline: .milliseconds(Int64(settings.deadlineMilliseconds)))
    }

    /// PoTime: the timestamp within the drift bound, and a recent tick of a validator's history named.
    private func checkTime(_ operation: Operation) -> ProofVerdict {
        let required = self.configuration.requirements
        if required.time {
            let drift = Int64(self.clock) - operation.timestampMilliseconds
            if abs(drift) > required.maximumClockDriftMilliseconds {
                return .refused("time: timestamp \(operation.timestampMilliseconds) is \(drift) ms from this validator's clock")
            }
            guard let reference = operation.time else { return .refused("time: the operation names no history tick") }
            guard let chain = reference.validator == self.id ? self.history : self.peerHistories[reference.validator] else {
                return .refused("time: no history of validator \(reference.validator) received yet")
            }
            if case .refused(let reason) = chain.verifyReference(tick: reference.tick, hash: reference.hash,
                                                                 maximumAge: self.configuration.history.maximumAgeTicks) {
                return .refused("\(reason) (validator \(reference.validator)'s)")
            }
        }
        return .accepted
    }

    /// A QC's signatures, checked once: the same certificate arrives in proposals, new-views and catch-up.
    private func isValid(_ qc: QuorumCertificate) -> Bool {
        if self.verifiedCertificates.contains(qc) { return true }
        guard qc.isValid(quorum: self.configuration.effectiveQuorum, validators: self.configuration.validators,
                         signer: self.configuration.signer, genesis: self.genesis.hash) else { return false }
        if self.verifiedCertificates.count >= 4096 { self.verifiedCertificates.removeAll(keepingCapacity: true) }
        self.verifiedCertificates.insert(qc)
        return true
    }

    private func checkOperations(of block: Block) -> ProofVerdict {
        var seen = Set<ConsensusHash>()
        for operation in block.operations {
            let digest = operation.digest
            // An operation this validator checked when it was submitted need not be checked again, if the
            // block carries it with the same proofs (the digest does not cover them).
            let known = self.mempool[digest].map { $0.signature == operation.signature && $0.work == operation.work } ?? false
            if !known, case .refused(let reason) = self.check(operation) { return .refused("operation \(operation): \(reason)") }
            if self.committedOperations.contains(digest) || !seen.insert(digest).inserted {
                return .refused("operation \(operation) is already ordered")
            }
        }
        return .accepted
    }

    private func refuse(_ reason: String) {
        if self.refusals.count == 1000 { self.refusals.removeFirst() }
        self.refusals.append(reason)
        self.refusalCount += 1
    }

    // MARK: - Catching up

    private func store(_ block: Block) {
        self.blocks[block.hash] = block
        if self.storage != nil { self.unsaved.blocks.append(block) }
    }

    private func releaseWaiting(on hash: ConsensusHash, now: UInt64) -> [Outgoing] {
        guard let children = self.waitingForParent.removeValue(forKey: hash) else { return [] }
        return children.flatMap { self.onProposal($0, now: now) }
    }

    private func onFetch(_ hash: ConsensusHash, above: UInt64, from: Int) -> [Outgoing] {
        Self.pages(of: self.chain(endingAt: hash, above: above), to: from)
    }

    /// Blocks a validator catching up gets in one answer, at most: it asks again (its next new-view or fetch)
    /// for the rest, from the height it reached.
    static let maximumCatchUpBlocks = 1024
    /// Blocks per message.
    static let blocksPerMessage = 64

    /// The block `hash` and its ancestors above height `above`, oldest first: the lowest
    /// ``maximumCatchUpBlocks`` of them, so the receiver can attach every one to a parent it has.
    private func chain(endingAt hash: ConsensusHash, above: UInt64) -> [Block] {
        var chain: [Block] = []
        var cursor = self.blocks[hash]
        while let current = cursor, current.height > above, current.height > 0 {
            chain.append(current)
            cursor = self.blocks[current.parent]
        }
        return Array(chain.reversed().prefix(Self.maximumCatchUpBlocks))
    }

    private static func pages(of chain: [Block], to receiver: Int) -> [Outgoing] {
        stride(from: 0, to: chain.count, by: Self.blocksPerMessage).map { start in
            Outgoing(destination: .one(receiver),
                     message: .blocks(Array(chain[start..<min(start + Self.blocksPerMessage, chain.count)])))
        }
    }

    private func onBlocks(_ list: [Block], now: UInt64) -> [Outgoing] {
        var out: [Outgoing] = []
        for block in list where self.blocks[block.hash] == nil {
            guard block.justify.block == block.parent, block.height == block.justify.height + 1,
                  self.isValid(block.justify) else { continue }
            guard self.blocks[block.parent] != nil else {
                // Pages of a long catch-up may arrive out of order: keep the block until its parent comes.
                if (self.waitingForParent[block.parent]?.count ?? 0) < 4 { self.waitingForParent[block.parent, default: []].append(block) }
                continue
            }
            self.store(block)
            out += self.processCertificate(block.justify, now: now)
            out += self.releaseWaiting(on: block.hash, now: now)
        }
        // The highest QC may have arrived before the blocks it needs to lock and commit.
        out += self.processCertificate(self.highQC, now: now)
        return out
    }
}
