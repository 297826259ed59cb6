/// Runs validators, clients and the network in one thread on a simulated clock and one seeded random
/// source (as FoundationDB's and TigerBeetle's simulators do): message delay, loss, duplication and
/// reordering, partitions that heal, crashes and restarts, byzantine validators. Then checks safety (no two
/// honest validators commit different blocks at one height; every honest ledger is a prefix of the
/// longest) and liveness (after the faults end, every valid operation is committed by every honest
/// validator). The same seed gives the same report, byte for byte.
public final class Simulator {
    private enum Event {
        case deliver(ConsensusMessage, to: Int)
        case submit(Int)
        case timer(Int)
        case crash(Int)
        case restart(Int)
        case partition([Int])
        case heal
        case resubmitAll
        case announce(Int)
    }

    private struct Scheduled: Comparable {
        var time: UInt64
        var sequence: UInt64
        var event: Int
        static func < (lhs: Scheduled, rhs: Scheduled) -> Bool {
            (lhs.time, lhs.sequence) < (rhs.time, rhs.sequence)
        }
    }

    public let configuration: SimulationConfiguration
    private var random: SimulationRandom
    private let signer: SimulatedSigner
    private var replicas: [Replica] = []
    /// Each validator's ledger store (SQLite in memory): what a crashed validator restarts from.
    private var stores: [LedgerStore] = []
    private var storageProblems: [String] = []
    private var behaviors: [Replica.Behavior] = []
    /// What clients will submit; each operation is made (with its proofs) when first submitted, so it can
    /// name a recent tick of a validator's history chain.
    private var plans: [Plan] = []
    private var operations: [Operation] = []
    private var operationIndex: [Int: Int] = [:]
    private var crashVictim: Int?
    private var submittedAt: [ConsensusHash: UInt64] = [:]
    private var firstCommitAt: [ConsensusHash: UInt64] = [:]
    private var events: [Event] = []
    private var queue = Heap<Scheduled>()
    private var sequence: UInt64 = 0
    private var now: UInt64 = 0
    private var crashed: Set<Int> = []
    private var partitionSide: [Int]?
    private var timerAt: [UInt64?] = []
    private var statistics = Statistics()

    struct Statistics {
        var sent = 0
        var dropped = 0
        var duplicated = 0
        var crashes = 0
    }

    public init(configuration: SimulationConfiguration) {
        precondition(configuration.byzantine * 3 < configuration.validators || configuration.brokenRule != nil
                     || configuration.byzantine == 0, "at most f byzantine among 3f+1")
        self.configuration = configuration
        self.random = SimulationRandom(seed: configuration.seed)
        self.signer = SimulatedSigner(participants: configuration.validators, seed: configuration.seed)
    }

    /// Runs to the end (or until every honest validator has committed everything) and checks the outcome.
    public func run() -> SimulationReport {
        self.setUp()
        if !self.storageProblems.isEmpty { return self.report() }
        while let next = self.queue.pop() {
            if next.time > self.configuration.endMilliseconds { break }
            self.now = next.time
            self.handle(self.events[next.event])
            if self.now >= self.configuration.faultsEndMilliseconds && self.everythingCommitted() { break }
        }
        return self.report()
    }

    // MARK: - Setup

    private func setUp() {
        let n = self.configuration.validators
        var replicaConfiguration = ReplicaConfiguration(validators: n, signer: self.signer)
        replicaConfiguration.workBits = self.configuration.workBits
        replicaConfiguration.workAdmissionThreshold = self.configuration.workAdmissionThreshold
        replicaConfiguration.brokenRule = self.configuration.brokenRule
        replicaConfiguration.baseTimeoutMilliseconds = max(100, self.configuration.maximumDelayMilliseconds * 8)
        replicaConfiguration.history.ticksPerSecond = 100
        replicaConfiguration.history.checkpointInterval = 50
        replicaConfiguration.history.maximumAgeTicks = 6_000
        // Byzantine validators: the highest indexes, so leaders rotate through them too.
        let behaviorChoices = self.configuration.byzantineBehaviors
        self.behaviors = (0..<n).map { index in
            guard index >= n - self.configuration.byzantine, !behaviorChoices.isEmpty else { return .honest }
            return behaviorChoices[Int(self.random.next() % UInt64(behaviorChoices.count))]
        }
        do {
            self.stores = try (0..<n).map { _ in try LedgerStore() }
            self.replicas = try (0..<n).map {
                try Replica(id: $0, configuration: replicaConfiguration, behavior: self.behaviors[$0], storage: self.stores[$0])
            }
        } catch {
            self.storageProblems.append("cannot set up the validators' stores: \(error)")
            return
        }
        self.timerAt = Array(repeating: nil, count: n)
        for replica in 0..<n { self.schedule(.announce(replica), at: 0) }
        self.planOperations()
        let window = max(self.configuration.faultsEndMilliseconds / 2, 1)
        for index in self.plans.indices {
            self.schedule(.submit(index), at: self.random.next() % window)
        }
        if let side = self.configuration.isolatedSide {
            self.schedule(.partition(side), at: 0)
            self.schedule(.heal, at: self.configuration.faultsEndMilliseconds)
        } else if self.configuration.partition {
            let start = self.random.next() % (self.configuration.faultsEndMilliseconds / 2 + 1)
            var side = Array(0..<n).filter { _ in self.random.next() & 1 == 0 }
            if side.isEmpty || side.count == n { side = [0] }
            self.schedule(.partition(side), at: start)
            self.schedule(.heal, at: start + self.random.next() % (self.configuration.faultsEndMilliseconds - start + 1))
        }
        if self.configuration.crashes {
            let honest = (0..<n).filter { self.behaviors[$0] == .honest }
            if let victim = honest.isEmpty ? nil : honest[Int(self.random.next() % UInt64(honest.count))] {
                self.crashVictim = victim
                let at = self.random.next() % (self.configuration.faultsEndMilliseconds * 6 / 10 + 1)
                self.schedule(.crash(victim), at: at)
                self.schedule(.restart(victim), at: at + 500 + self.random.next() % 1500)
            }
        }
        // Clients retry what they sent during the faults once the network is reliable again.
        self.schedule(.resubmitAll, at: self.configuration.faultsEndMilliseconds)
    }

    struct Plan {
        var kind: Operation.Kind
        var proposer: Int
        var sequence: UInt64
        var subject: String
        var amount: Int64
        var workStart: UInt64
    }

    /// Stakes for every proposer, then pools, claims and releases against them.
    private func planOperations() {
        let n = self.configuration.validators
        var sequences = Array(repeating: UInt64(0), count: n)
        for index in 0..<self.configuration.operations {
            let proposer = index % n
            let kind: Operation.Kind
            let round = index / n
            switch round % 4 {
            case 0: kind = .stake
            case 1: kind = .offerPool
            case 2: kind = .claim
            default: kind = .release
            }
            sequences[proposer] += 1
            self.plans.append(Plan(kind: kind, proposer: proposer, sequence: sequences[proposer],
                                   subject: "pool-\((proposer + round % 3) % n)-\(round / 4)",
                                   amount: Int64(1 + self.random.next() % 8), workStart: self.random.next() >> 40))
        }
    }

    /// The operation of plan `index`, made now on first use: stamped with the current time and a tick of
    /// an honest validator's history (one that will not crash, whose chain would restart), then worked and
    /// signed.
    private func operation(_ index: Int) -> Operation {
        if let made = self.operationIndex[index] { return self.operations[made] }
        let plan = self.plans[index]
        let n = self.configuration.validators
        let witness = (1...n).map { (plan.proposer + $0) % n }
            .first { self.behaviors[$0] == .honest && $0 != self.crashVictim } ?? plan.proposer
        var operation = Operation(kind: plan.kind, proposer: plan.proposer, sequence: plan.sequence, subject: plan.subject,
                                  amount: plan.amount, timestampMilliseconds: Int64(self.now),
                                  time: self.replicas[witness].timeReferenceForClients)
        operation.work = WorkProof.solve(digest: operation.digest, bits: self.configuration.workBits, start: plan.workStart)
        operation.signature = self.signer.sign(operation.digest.bytes, as: plan.proposer)
        self.operationIndex[index] = self.operations.count
        self.operations.append(operation)
        return operation
    }

    // MARK: - Events

    private func schedule(_ event: Event, at time: UInt64) {
        self.events.append(event)
        self.sequence += 1
        self.queue.push(Scheduled(time: time, sequence: self.sequence, event: self.events.count - 1))
    }

    private var traceLines: [String] = []

    private func describe(_ message: ConsensusMessage) -> String {
        switch message {
        case .proposal(let block): return "proposal h\(block.height) v\(block.view) \(block.hash) ops \(block.operations.count) qc h\(block.justify.height)"
        case .vote(let vote): return "vote from \(vote.validator) h\(vote.height) v\(vote.view)"
        case .newView(let view, let qc, let committed, let from): return "newView \(view) from \(from) qc h\(qc.height) v\(qc.view) committed \(committed)"
        case .fetch(let hash, let above, let from): return "fetch \(hash) above \(above) from \(from)"
        case .blocks(let list): return "blocks \(list.map(\.height))"
        case .history(let from, let first, let checkpoints, _): return "history of \(from) from \(first), \(checkpoints.count) checkpoints"
        }
    }

    private func handle(_ event: Event) {
        if self.configuration.trace {
            let line: String
            switch event {
            case .deliver(let message, let to): line = "to \(to): \(self.describe(message))"
            case .submit(let index): line = "submit op \(index)"
            case .timer(let replica): line = "timer \(replica) (view \(self.replicas[replica].view))"
            default: line = "\(event)"
            }
            self.traceLines.append("\(self.now) ms " + line)
        }
        switch event {
        case .deliver(let message, let to):
            guard !self.crashed.contains(to) else { return }
            self.dispatch(self.replicas[to].receive(message, now: self.now), from: to)
            self.rearmTimer(to)
        case .submit(let index):
            // Honest clients meet the work the validators demand now (admission control raises it as queues
            // fill); the nonce is not covered by the digest, so the operation stays the same.
            var operation = self.operation(index)
            let demanded = self.replicas.indices.filter { !self.crashed.contains($0) }.map { self.replicas[$0].admissionWorkBits }.max()
                ?? self.configuration.workBits
            if WorkProof.leadingZeroBits(digest: operation.digest, nonce: operation.work.nonce) < demanded {
                operation.work = WorkProof.solve(digest: operation.digest, bits: demanded, start: operation.work.nonce &+ 1)
                self.operations[self.operationIndex[index]!] = operation
            }
            if self.submittedAt[operation.digest] == nil { self.submittedAt[operation.digest] = self.now }
            for replica in self.replicas.indices where !self.crashed.contains(replica) {
                guard self.faultsActive ? !self.random.chance(self.configuration.drop) : true else { continue }
                self.dispatch(self.replicas[replica].submit(operation, now: self.now), from: replica)
                self.rearmTimer(replica)
            }
        case .timer(let replica):
            self.timerAt[replica] = nil
            guard !self.crashed.contains(replica) else { return }
            self.dispatch(self.replicas[replica].timerFired(now: self.now), from: replica)
            self.rearmTimer(replica)
        case .crash(let replica):
            self.crashed.insert(replica)
            self.statistics.crashes += 1
        case .restart(let replica):
            // Everything in memory is gone; the new replica knows only what its store kept.
            self.crashed.remove(replica)
            do {
                let old = self.replicas[replica]
                self.replicas[replica] = try Replica(id: replica, configuration: old.configuration, behavior: old.behavior,
                                                     storage: self.stores[replica], now: self.now)
                self.timerAt[replica] = nil
                self.recordedHeights[replica] = min(self.recordedHeights[replica] ?? 0, self.replicas[replica].committed.count)
            } catch {
                self.storageProblems.append("validator \(replica) cannot restart from its store: \(error)")
            }
            self.rearmTimer(replica)
        case .partition(let side):
            self.partitionSide = side
        case .heal:
            self.partitionSide = nil
        case .resubmitAll:
            self.partitionSide = nil
            for index in self.plans.indices { self.schedule(.submit(index), at: self.now + UInt64(index % 50)) }
        case .announce(let replica):
            // Validators announce themselves and publish their history every half second.
            self.schedule(.announce(replica), at: self.now + 500)
            guard !self.crashed.contains(replica) else { return }
            self.dispatch(self.replicas[replica].announce(now: self.now), from: replica)
            self.rearmTimer(replica)
        }
    }

    private var faultsActive: Bool { self.now < self.configuration.faultsEndMilliseconds }

    private func dispatch(_ outgoing: [Replica.Outgoing], from sender: Int) {
        guard self.behaviors[sender] != .silent else { return }
        for item in outgoing {
            let targets: [Int]
            switch item.destination {
            case .all: targets = Array(self.replicas.indices).filter { $0 != sender }
            case .one(let target): targets = [target]
            case .some(let list): targets = list.filter { $0 != sender }
            }
            for target in targets { self.send(item.message, from: sender, to: target) }
        }
    }

    private func send(_ message: ConsensusMessage, from sender: Int, to target: Int) {
        self.statistics.sent += 1
        if let side = self.partitionSide, side.contains(sender) != side.contains(target) {
            self.statistics.dropped += 1
            return
        }
        if self.faultsActive && self.random.chance(self.configuration.drop) {
            self.statistics.dropped += 1
            return
        }
        let delay = 1 + self.random.next() % self.configuration.maximumDelayMilliseconds
        self.schedule(.deliver(message, to: target), at: self.now + delay)
        if self.faultsActive && self.random.chance(self.configuration.duplicate) {
            self.statistics.duplicated += 1
            self.schedule(.deliver(message, to: target), at: self.now + delay + 1 + self.random.next() % self.configuration.maximumDelayMilliseconds)
        }
    }

    private func rearmTimer(_ replica: Int) {
        self.recordCommits(of: replica)
        guard let deadline = self.replicas[replica].timeoutDeadline else { return }
        if let armed = self.timerAt[replica], armed <= deadline { return }
        self.timerAt[replica] = deadline
        self.schedule(.timer(replica), at: max(deadline, self.now))
    }

    private var recordedHeights: [Int: Int] = [:]

    private func recordCommits(of replica: Int) {
        guard self.behaviors[replica] == .honest else { return }
        let blocks = self.replicas[replica].committed
        let from = self.recordedHeights[replica] ?? 0
        guard blocks.count > from else { return }
        for block in blocks[from...] {
            if self.configuration.trace {
                self.traceLines.append("\(self.now) ms replica \(replica) committed h\(block.height) v\(block.view) \(block.hash)")
            }
            for operation in block.operations where self.firstCommitAt[operation.digest] == nil {
                self.firstCommitAt[operation.digest] = self.now
            }
        }
        self.recordedHeights[replica] = blocks.count
    }

    private func everythingCommitted() -> Bool {
        let expected = self.plans.count
        return self.replicas.indices.allSatisfy { index in
            self.behaviors[index] != .honest || self.crashed.contains(index)
                || self.replicas[index].ledgerOperationCount >= expected
        }
    }

    // MARK: - Checks

    private func report() -> SimulationReport {
        var report = SimulationReport(configuration: self.configuration)
        report.behaviors = self.behaviors
        report.safetyViolations += self.storageProblems
        for index in self.replicas.indices {
            if let failure = self.replicas[index].storageFailure {
                report.safetyViolations.append("validator \(index)'s store failed: \(failure)")
            }
        }
        let honest = self.replicas.indices.filter { self.behaviors[$0] == .honest }
        // Safety: at every height, one block among all honest validators; each ledger a prefix of the longest.
        let chains = honest.map { self.replicas[$0].committed.map(\.hash) }
        let longest = chains.max { $0.count < $1.count } ?? []
        for (position, index) in honest.enumerated() {
            let chain = chains[position]
            for (height, hash) in chain.enumerated() where hash != longest[height] {
                report.safetyViolations.append(
                    "validator \(index) committed \(hash) at height \(height + 1), another honest validator \(longest[height])")
                break
            }
        }
        // Liveness: every operation committed by every honest validator that is up.
        let valid = Set(self.operations.map(\.digest))
        for index in honest where !self.crashed.contains(index) {
            let missing = valid.subtracting(self.replicas[index].committedOperationDigests).count
            if missing > 0 {
                report.livenessViolations.append("validator \(index) has \(missing) of \(valid.count) operations uncommitted at "
                    + "\(self.now) ms (faults ended at \(self.configuration.faultsEndMilliseconds) ms)")
            }
        }
        report.trace = self.traceLines
        for index in self.replicas.indices where self.configuration.trace {
            let replica = self.replicas[index]
            report.trace.append("replica \(index): view \(replica.view) highQC h\(replica.highQC.height) v\(replica.highQC.view) "
                + "committed h\(replica.committedHeight) pending \(replica.hasPendingWork) refusals \(replica.refusals.suffix(3))")
        }
        report.committedHeight = longest.count
        report.committedOperations = honest.map { self.replicas[$0].ledgerOperationCount }.min() ?? 0
        report.views = self.replicas.map(\.view).max() ?? 0
        report.timeouts = self.replicas.map(\.timeouts).reduce(0, +)
        report.messagesSent = self.statistics.sent
        report.messagesDropped = self.statistics.dropped
        report.messagesDuplicated = self.statistics.duplicated
        report.crashes = self.statistics.crashes
        report.refusals = honest.map { self.replicas[$0].refusals.count }.reduce(0, +)
        report.endedAt = self.now
        report.latencies = self.operations.compactMap { operation -> UInt64? in
            guard let submitted = self.submittedAt[operation.digest], let committed = self.firstCommitAt[operation.digest] else {
                return nil
            }
            return committed - submitted
        }.sorted()
        // The state machine is deterministic: the same committed prefix gives the same ledger.
        for (position, index) in honest.enumerated() {
            for other in honest[(position + 1)...]
            where self.replicas[other].committed.count == self.replicas[index].committed.count
                && self.replicas[other].ledger != self.replicas[index].ledger {
                report.safetyViolations.append("validators \(index) and \(other) committed the same blocks but hold different ledgers")
            }
        }
        return report
    }
}

extension Simulator {
    /// What validator `index` committed, oldest first (after ``run()``).
    public func committedBlocks(of index: Int) -> [Block] { self.replicas[index].committed }
}

extension Replica {
    var ledgerOperationCount: Int { self.committedOperations.count }
    var committedOperationDigests: Set<ConsensusHash> { self.committedOperations }
}

/// A binary min-heap.
struct Heap<Element: Comparable> {
    private var items: [Element] = []

    mutating func push(_ element: Element) {
        self.items.append(element)
        var child = self.items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.items[child] < self.items[parent] else { break }
            self.items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !self.items.isEmpty else { return nil }
        self.items.swapAt(0, self.items.count - 1)
        let top = self.items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.items.count && self.items[left] < self.items[smallest] { smallest = left }
            if right < self.items.count && self.items[right] < self.items[smallest] { smallest = right }
            guard smallest != parent else { return top }
            self.items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
