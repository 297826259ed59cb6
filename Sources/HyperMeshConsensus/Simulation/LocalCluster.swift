import Crypto

/// Validators in one process with a network that delivers at once, in order: for measuring the protocol's
/// own cost (throughput, commit latency in wall-clock time) and for tests that crash and restart a
/// validator from its store by hand, or add validators of later epochs (``join(identity:configuration:store:from:now:)``).
/// Timers are driven by the caller's clock. Messages are routed by identity, in the epoch they were sent in.
public final class LocalCluster {
    public private(set) var replicas: [Replica]
    public private(set) var stores: [(any ReplicaStorage)?]
    private var queue: [(to: Int, message: ConsensusMessage, epoch: UInt64)] = []
    private var head = 0
    /// Validators that are down: messages to them are lost.
    public var down: Set<Int> = []

    public convenience init(configuration: ReplicaConfiguration, stores: [(any ReplicaStorage)?]? = nil, now: UInt64 = 0) throws {
        try self.init(configurations: Array(repeating: configuration, count: configuration.validators), stores: stores, now: now)
    }

    /// One configuration per validator: each may hold only its own signing key (``NodeKeySigner``).
    public init(configurations: [ReplicaConfiguration], stores: [(any ReplicaStorage)?]? = nil, now: UInt64 = 0) throws {
        let stores = stores ?? Array(repeating: nil, count: configurations.count)
        precondition(stores.count == configurations.count, "one store per validator")
        self.stores = stores
        self.replicas = try configurations.indices.map {
            try Replica(id: $0, configuration: configurations[$0], storage: stores[$0], now: now)
        }
    }

    /// `count` validators signing with node keys of their own (P-256, ``NodeKeySigner``), as validator processes do,
    /// each configured by `configure`; with their node ids, in index order (what a follower is given).
    public static func withNodeKeys(_ count: Int, stores: [(any ReplicaStorage)?]? = nil,
                                    configure: (inout ReplicaConfiguration) -> Void = { _ in }) throws -> (LocalCluster, nodeIDs: [String]) {
        let keys = (0..<count).map { _ in P256.Signing.PrivateKey() }
        let nodeIDs = keys.map { NodeKeySigner.nodeID(of: $0.publicKey) }
        let configurations = keys.map { key in
            var configuration = ReplicaConfiguration(validators: count, signer: NodeKeySigner(nodeIDs: nodeIDs, privateKey: key))
            configuration.members = nodeIDs.map { ValidatorMember(nodeID: $0, address: "") }
            configure(&configuration)
            return configuration
        }
        return (try LocalCluster(configurations: configurations, stores: stores), nodeIDs)
    }

    /// Hands `operation` to every validator that is up.
    public func submit(_ operation: Operation, now: UInt64) {
        for index in self.replicas.indices where !self.down.contains(index) {
            self.enqueue(self.replicas[index].submit(operation, now: now), from: index)
        }
    }

    /// Delivers queued messages until none are left.
    public func deliverAll(now: UInt64) {
        while self.head < self.queue.count {
            let (to, message, epoch) = self.queue[self.head]
            self.head += 1
            guard !self.down.contains(to) else { continue }
            self.enqueue(self.replicas[to].receive(message, epoch: epoch, now: now), from: to)
        }
        self.queue.removeAll(keepingCapacity: true)
        self.head = 0
    }

    /// Fires the timers that are due.
    public func fireTimers(now: UInt64) {
        for index in self.replicas.indices where !self.down.contains(index) {
            if let deadline = self.replicas[index].timeoutDeadline, deadline <= now {
                self.enqueue(self.replicas[index].timerFired(now: now), from: index)
            }
        }
    }

    /// Replaces validator `index` with one that knows only what its store kept, and brings it up.
    public func restart(_ index: Int, now: UInt64) throws {
        let old = self.replicas[index]
        self.replicas[index] = try Replica(identity: old.identity, configuration: self.configurations[index], behavior: old.behavior,
                                           storage: self.stores[index], now: now)
        self.down.remove(index)
    }

    /// The configurations the validators were made with (their epoch-0 view).
    private lazy var configurations: [ReplicaConfiguration] = self.replicas.map(\.configuration)

    /// Adds a validator that a later epoch names, started from `store` after the committed chain and epoch proofs
    /// of validator `source` are copied into it (as an agent promotes its follower's copy); returns its index.
    @discardableResult
    public func join(identity: String, configuration: ReplicaConfiguration, store: LedgerStore, from source: Int, now: UInt64) throws -> Int {
        _ = self.configurations
        let held = try store.committedHeight()
        try store.append(self.replicas[source].committed.filter { $0.height > held })
        try store.append(epochProofs: self.replicas[source].epochProofs.values.sorted { $0.epoch < $1.epoch })
        self.replicas.append(try Replica(identity: identity, configuration: configuration, storage: store, now: now))
        self.stores.append(store)
        self.configurations.append(configuration)
        return self.replicas.count - 1
    }

    private func enqueue(_ outgoing: [Replica.Outgoing], from sender: Int) {
        let replica = self.replicas[sender]
        for item in outgoing {
            let epoch = item.epoch ?? replica.epoch
            let members = (replica.members(ofEpoch: epoch) ?? []).map { member in
                self.replicas.firstIndex { $0.identity == member.nodeID }
            }
            func target(_ index: Int) -> Int? { members.indices.contains(index) ? members[index] : nil }
            let targets: [Int]
            switch item.destination {
            case .all: targets = members.indices.compactMap(target)
            case .one(let index): targets = target(index).map { [$0] } ?? []
            case .some(let list): targets = list.compactMap(target)
            }
            for index in targets where index != sender { self.queue.append((index, item.message, epoch)) }
        }
    }
}
