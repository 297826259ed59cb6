/// What a validator must not forget across a crash: HotStuff's safety state (the last view voted in, the
/// locked block, the highest QC), the blocks those refer to, and the committed chain.
///
/// A replica writes its changes in one transaction at the end of every input, before the messages that
/// input produced leave: a vote is never sent that a restart could forget, so a restarted validator can
/// never vote twice in a view.
public protocol ReplicaStorage: AnyObject {
    /// Everything stored, for a replica starting up (empty on first start).
    func loadSnapshot() throws -> ReplicaSnapshot
    /// Writes `changes` atomically: all or nothing.
    func save(_ changes: ReplicaChanges) throws
}

/// The durable state of one replica.
public struct ReplicaSnapshot: Sendable {
    /// Committed blocks, oldest first, genesis not included.
    public var committed: [Block] = []
    /// Blocks received but not committed (the lock and the highest QC point into these).
    public var pending: [Block] = []
    public var safety: SafetyState?
    /// The proofs that the blocks ending epochs are committed, oldest first.
    public var epochProofs: [EpochProof] = []

    public init(committed: [Block] = [], pending: [Block] = [], safety: SafetyState? = nil, epochProofs: [EpochProof] = []) {
        self.committed = committed
        self.pending = pending
        self.safety = safety
        self.epochProofs = epochProofs
    }
}

/// HotStuff's safety rules' memory.
public struct SafetyState: Sendable, Equatable {
    public var votedView: UInt64
    public var locked: ConsensusHash
    public var highQC: QuorumCertificate
    /// The QC whose three-chain made the latest commit (sent to validators catching up).
    public var commitQC: QuorumCertificate
    /// The validator epoch these belong to: a replica that finds another epoch when it replays its chain starts
    /// that epoch afresh.
    public var epoch: UInt64 = 0
}

/// What changed during one input.
public struct ReplicaChanges: Sendable {
    /// Blocks newly received (not yet committed).
    public var blocks: [Block] = []
    /// Blocks newly committed, oldest first.
    public var committed: [Block] = []
    /// The safety state, when it changed.
    public var safety: SafetyState?
    /// Proofs of epochs that ended.
    public var epochProofs: [EpochProof] = []
    /// A new epoch started: the blocks received in the one before will never be committed.
    public var epochStarted = false

    public var isEmpty: Bool {
        self.blocks.isEmpty && self.committed.isEmpty && self.safety == nil && self.epochProofs.isEmpty && !self.epochStarted
    }
}
