/// The replicated state machine: stake balances, offered pools, claims. Applying the same operations in the
/// same order gives the same state and the same verdicts on every validator.
public struct LedgerState: Sendable, Equatable {
    public struct Pool: Sendable, Equatable {
        public var owner: Int
        public var cores: Int64
        public var claimed: Int64
    }

    public private(set) var stakes: [Int: Int64] = [:]
    public private(set) var pools: [String: Pool] = [:]
    /// Cores claimed, by (pool, claimant).
    public private(set) var claims: [String: [Int: Int64]] = [:]
    /// Offers and placements of member nodes.
    public private(set) var mesh = MeshLedger()
    public private(set) var appliedCount = 0
    public private(set) var rejected: [(operation: ConsensusHash, reason: String)] = []
    /// The same reasons by operation: how a node learns why its operation had no effect.
    public private(set) var rejections: [ConsensusHash: String] = [:]
    /// The height of the last block applied.
    public private(set) var height: UInt64 = 0
    /// Every validator epoch so far, oldest first (epoch `i` at index `i`): empty when the ledger was made without
    /// its genesis validators, and then no `reconfigure` counts.
    public private(set) var epochs: [ValidatorEpoch] = []

    public init() {}

    /// A ledger whose epoch 0 is validated by `genesisValidators` (the `Mesh` spec's list).
    public init(genesisValidators: [ValidatorMember]) {
        self.epochs = genesisValidators.isEmpty ? [] : [ValidatorEpoch(number: 0, members: genesisValidators, baseHeight: 0)]
    }

    /// The epoch in effect for the next block.
    public var validators: ValidatorEpoch? { self.epochs.last }

    public static func == (lhs: LedgerState, rhs: LedgerState) -> Bool {
        lhs.stakes == rhs.stakes && lhs.pools == rhs.pools && lhs.claims == rhs.claims && lhs.mesh == rhs.mesh
            && lhs.appliedCount == rhs.appliedCount && lhs.epochs == rhs.epochs
            && lhs.rejected.map(\.operation) == rhs.rejected.map(\.operation)
    }

    /// Applies one committed operation of the block at `height`, or records why it had no effect.
    public mutating func apply(_ operation: Operation, minimumStake: Int64, height: UInt64 = 0) {
        self.height = max(self.height, height)
        let problem = operation.kind.isMeshOperation || !operation.node.isEmpty
            ? self.mesh.problem(with: operation, minimumStake: minimumStake)
            : self.problem(with: operation, minimumStake: minimumStake)
        if let reason = problem {
            self.rejected.append((operation.digest, reason))
            self.rejections[operation.digest] = reason
            return
        }
        self.appliedCount += 1
        if operation.kind.isMeshOperation || !operation.node.isEmpty { return self.mesh.apply(operation, height: height) }
        switch operation.kind {
        case .stake:
            self.stakes[operation.proposer, default: 0] += operation.amount
        case .offerPool:
            self.pools[operation.subject] = Pool(owner: operation.proposer, cores: operation.amount, claimed: 0)
        case .claim:
            self.pools[operation.subject]?.claimed += operation.amount
            self.claims[operation.subject, default: [:]][operation.proposer, default: 0] += operation.amount
        case .release:
            let held = self.claims[operation.subject]?[operation.proposer] ?? 0
            self.pools[operation.subject]?.claimed -= held
            self.claims[operation.subject]?[operation.proposer] = nil
        case .expel:
            self.mesh.expel(operation.subject)
        case .reconfigure:
            if let change = try? ValidatorChange(decoding: operation.payload) {
                self.epochs.append(ValidatorEpoch(number: change.epoch, members: change.members, baseHeight: height))
            }
        case .offer, .withdraw, .place, .acknowledge, .end, .evict, .heartbeat:
            break
        }
    }

    private func problem(with operation: Operation, minimumStake: Int64) -> String? {
        let stake = self.stakes[operation.proposer] ?? 0
        switch operation.kind {
        case .stake:
            return operation.amount > 0 ? nil : "stake amounts are positive"
        case .offerPool:
            if stake < minimumStake { return "stake \(stake) below the minimum \(minimumStake)" }
            if self.pools[operation.subject] != nil { return "pool \(operation.subject) is already offered" }
            return operation.amount > 0 ? nil : "a pool offers at least one core"
        case .claim:
            if stake < minimumStake { return "stake \(stake) below the minimum \(minimumStake)" }
            guard let pool = self.pools[operation.subject] else { return "no pool \(operation.subject)" }
            if operation.amount <= 0 { return "a claim takes at least one core" }
            return pool.claimed + operation.amount <= pool.cores ? nil
                : "pool \(operation.subject) has \(pool.cores - pool.claimed) cores free, \(operation.amount) asked"
        case .release:
            return self.claims[operation.subject]?[operation.proposer] == nil ? "no claim on \(operation.subject) to release" : nil
        case .expel:
            // Only validators propose it: the replica checks the proposer's signature whatever the mesh requires.
            if operation.subject.utf8.count != 64 { return "expel names a node id (64 hex digits)" }
            return self.mesh.expelled.contains(operation.subject) ? "node \(operation.subject.prefix(12)) is already removed" : nil
        case .reconfigure:
            // Only validators propose it: the replica checks the proposer's signature whatever the mesh requires.
            guard let current = self.validators else { return "this ledger has no validator epochs to change" }
            let change: ValidatorChange
            do { change = try ValidatorChange(decoding: operation.payload) } catch { return "reconfigure: \(error)" }
            return change.problem(after: current, expelled: self.mesh.expelled)
        case .offer, .withdraw, .place, .acknowledge, .end, .evict, .heartbeat:
            return "mesh operations are proposed by member nodes"
        }
    }
}
