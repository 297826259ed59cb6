/// What every validator of one ledger agrees on.
public struct ReplicaConfiguration: Sendable {
    /// n = 3f + 1 validators.
    public var validators: Int
    /// Votes a QC needs: n − f.
    public var quorum: Int
    public var signer: any ConsensusSigner
    /// Epoch 0's validators, in participant order (``ValidatorEpoch``): node ids for node keys, the decimal
    /// index of the key for signers with a fixed set of keys. Later epochs come from committed `reconfigure`
    /// operations.
    public var members: [ValidatorMember]
    /// A view with no progress for this long (doubling on consecutive timeouts) is abandoned.
    public var baseTimeoutMilliseconds: UInt64 = 300
    /// PoWork difficulty: the floor every operation in a block must meet. Validators demand more of new
    /// operations as their queue fills (``Replica/admissionWorkBits``) and announce it in their blocks.
    public var workBits = 8
    /// Queued operations per extra bit of work demanded: one more bit at this many, two at twice as many, …
    public var workAdmissionThreshold = 1000
    /// Operations per block at most.
    public var maximumBatch = 500
    /// Which proofs operations must carry (the `Mesh` spec's `consensus` switches), the drift bound and the
    /// minimum stake; setting them also applies the spec's PoSpace minimums to ``space``.
    public var requirements = ProofRequirements() {
        didSet {
            if let leaves = self.requirements.spaceMinimumLeaves { self.space.minimumLeaves = leaves }
            if let rounds = self.requirements.spaceMinimumRounds { self.space.minimumRounds = rounds }
            if let deadline = self.requirements.spaceDeadlineMilliseconds { self.space.deadlineMilliseconds = deadline }
        }
    }
    /// For proving the checker can fail: break one of HotStuff's safety rules on every replica.
    public var brokenRule: BrokenRule?
    /// Each validator's history chain (PoTime).
    public var history = HistorySettings()
    /// What a proof of space must show (PoSpace, when the mesh demands it).
    public var space = SpaceSettings()

    /// The size of plot a provider must prove and how fast it must answer. The defaults make recomputing
    /// a plot (65,536 leaves × 4,096 sequential hashes, about 90 s on this class of machine) far slower
    /// than the deadline, while answering from disk takes milliseconds.
    public struct SpaceSettings: Sendable {
        /// Leaves challenged per proof.
        public var challenges = 16
        public var minimumLeaves = 1 << 16
        public var minimumRounds = 4096
        /// From the validator committing the challenge block to the answer reaching it.
        public var deadlineMilliseconds: UInt64 = 30_000
        /// How old an address binding may be.
        public var bindingMaximumAgeMilliseconds: Int64 = 86_400_000

        public init() {}
    }

    /// How fast validators' history chains tick and how far back an operation may reference them.
    public struct HistorySettings: Sendable {
        public var ticksPerSecond: UInt64 = 1000
        public var checkpointInterval = 1000
        /// The oldest tick an operation may name, counted back from the chain's newest checkpoint.
        public var maximumAgeTicks: UInt64 = 120_000

        public init() {}

        /// Checkpoints kept and published: enough to check any reference that is not stale.
        var window: Int { Int(self.maximumAgeTicks / UInt64(self.checkpointInterval)) + 2 }
    }

    public enum BrokenRule: String, Sendable, CaseIterable {
        /// Vote without HotStuff's locking rule (`extends(b, locked) || b.justify.height > locked.height`).
        case ignoreLock = "lock"
        /// Certificates of f + 1 votes instead of n − f.
        case smallQuorum = "quorum"
        /// Commit a block as soon as it is certified, instead of at the head of a three-chain.
        case oneChainCommit = "commit"
        /// Commit a block when voting for it, with no certificate at all.
        case commitOnVote = "vote"
    }

    public init(validators: Int, signer: any ConsensusSigner) {
        precondition(validators >= 1)
        self.validators = validators
        let faults = (validators - 1) / 3
        self.quorum = validators - faults
        self.signer = signer
        self.members = (0..<validators).map { ValidatorMember(nodeID: "\($0)", address: "") }
    }

    /// The validators, quorum and signer of `epoch` in place of the ones before.
    mutating func adopt(_ epoch: ValidatorEpoch) {
        self.validators = epoch.members.count
        self.quorum = epoch.quorum
        self.signer = self.signer.forMembers(epoch.nodeIDs)
    }

    var faults: Int { (self.validators - 1) / 3 }
    var effectiveQuorum: Int { self.brokenRule == .smallQuorum ? self.faults + 1 : self.quorum }

    /// The leader of `view`: a pseudo-random rotation (SplitMix64 of the view), the same on every validator.
    ///
    /// Plain round robin can starve chained HotStuff: a commit needs a three-chain in consecutive views,
    /// i.e. four honest leaders in a row, and with n = 4 and one silent validator round robin never has
    /// them. A hashed rotation has them with probability ((n − f)/n)^4 in every window.
    func leader(of view: UInt64) -> Int {
        var z = view &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(self.validators))
    }
}
