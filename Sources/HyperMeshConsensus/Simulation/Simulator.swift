/// Runs validators, clients and the network in one thread on a simulated clock and one seeded random
/// source (as FoundationDB's and TigerBeetle's simulators do): message delay, loss, duplication and
/// reordering, partitions that heal, crashes and restarts, byzantine validators. Then checks safety (no two
/// honest validators commit different blocks at one height; every honest ledger is a prefix of the
/// longest) and liveness (after the faults end, every valid operation is committed by every honest
/// validator). The same seed gives the same report, byte for byte.
public final class Simulator {
    private enum Event {
        case deliver(ConsensusMessage, epoch: UInt64, to: Int)
        case submit(Int)
        case timer(Int)
        case crash(Int)
        case restart(Int)
        case partition([Int])
        case heal
        case resubmitAll
        case announce(Int)
        /// Propose reconfiguration step `k` (epoch k + 1), again until it commits.
        case reconfigure(Int)
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
    /// One per key index; a validator that joins in a later epoch is created when it is promoted.
    private var replicas: [Replica?] = []
    /// Key indexes that keep the same participant index in every epoch: proposers and history witnesses of client
    /// operations, whose signatures and references then mean the same in every epoch.
    private var stableIndexes: [Int] = []
    private var baseConfiguration: ReplicaConfiguration?
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
        let universe = max(configuration.validators, (configuration.reconfigurations.flatMap { $0 }.max() ?? -1) + 1)
        self.signer = SimulatedSigner(participants: universe, seed: configuration.seed)
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
        let universe = max(n, (self.configuration.reconfigurations.flatMap { $0 }.max() ?? -1) + 1)
        self.behaviors += Array(repeating: .honest, count: universe - n)
        self.baseConfiguration = replicaConfiguration
        let epochs = [Array(0..<n)] + self.configuration.reconfigurations
        self.stableIndexes = (0..<n).filter { index in epochs.allSatisfy { $0.indices.contains(index) && $0[index] == index } }
        do {
            self.stores = try (0..<universe).map { _ in try LedgerStore() }
            self.replicas = try (0..<universe).map { index in
                index < n ? try Replica(id: index, configuration: replicaConfiguration, behavior: self.behaviors[index],
                                        storage: self.stores[index]) : nil
            }
        } catch {
            self.storageProblems.append("cannot set up the validators' stores: \(error)")
            return
        }
        self.timerAt = Array(repeating: nil, count: universe)
        for replica in 0..<universe { self.schedule(.announce(replica), at: 0) }
        if !self.configuration.reconfigurations.isEmpty {
            self.schedule(.reconfigure(0), at: self.random.next() % (self.configuration.faultsEndMilliseconds / 2 + 1))
        }
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
            // With reconfigurations, any honest validator of any epoch may crash, except the only one whose history
            // every client operation names (a restarted validator's history starts over).
            let stableHonest = self.stableIndexes.filter { self.behaviors[$0] == .honest }
            let honest = self.configuration.reconfigurations.isEmpty ? (0..<n).filter { self.behaviors[$0] == .honest }
                : (0..<universe).filter { self.behaviors[$0] == .honest && !(stableHonest == [$0]) }
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
        let proposers = self.configuration.reconfigurations.isEmpty ? Array(0..<n) : self.stableIndexes
        var sequences = Array(repeating: UInt64(0), count: n)
        for index in 0..<self.configuration.operations where !proposers.isEmpty {
            let proposer = proposers[index % proposers.count]
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
        let witnesses = self.configuration.reconfigurations.isEmpty ? Array(0..<n) : self.stableIndexes
        let witness = (1...n).map { (plan.proposer + $0) % n }
            .first { witnesses.contains($0) && self.behaviors[$0] == .honest && $0 != self.crashVictim } ?? plan.proposer
        var operation = Operation(kind: plan.kind, proposer: plan.proposer, sequence: plan.sequence, subject: plan.subject,
                                  amount: plan.amount, timestampMilliseconds: Int64(self.now),
                                  time: self.replicas[witness]?.timeReferenceForClients)
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
            case .deliver(let message, let epoch, let to): line = "to \(to) (epoch \(epoch)): \(self.describe(message))"
            case .submit(let index): line = "submit op \(index)"
            case .timer(let replica): line = "timer \(replica) (view \(self.replicas[replica]?.view ?? 0))"
            default: line = "\(event)"
            }
            self.traceLines.append("\(self.now) ms " + line)
        }
        switch event {
        case .deliver(let message, let epoch, let to):
            guard !self.crashed.contains(to), let replica = self.replicas[to] else { return }
            self.dispatch(replica.receive(message, epoch: epoch, now: self.now), from: to)
            self.rearmTimer(to)
        case .submit(let index):
            // Honest clients meet the work the validators demand now (admission control raises it as queues
            // fill); the nonce is not covered by the digest, so the operation stays the same.
            var operation = self.operation(index)
            let demanded = self.replicas.indices.filter { !self.crashed.contains($0) }.compactMap { self.replicas[$0]?.admissionWorkBits }.max()
                ?? self.configuration.workBits
            if WorkProof.leadingZeroBits(digest: operation.digest, nonce: operation.work.nonce) < demanded {
                operation.work = WorkProof.solve(digest: operation.digest, bits: demanded, start: operation.work.nonce &+ 1)
                self.operations[self.operationIndex[index]!] = operation
            }
            if self.submittedAt[operation.digest] == nil { self.submittedAt[operation.digest] = self.now }
            self.submitToAll(operation)
        case .timer(let replica):
            self.timerAt[replica] = nil
            guard !self.crashed.contains(replica), let running = self.replicas[replica] else { return }
            self.dispatch(running.timerFired(now: self.now), from: replica)
            self.rearmTimer(replica)
        case .crash(let replica):
            // A validator that has not joined yet has nothing to lose.
            guard self.replicas[replica] != nil else { return }
            self.crashed.insert(replica)
            self.statistics.crashes += 1
        case .restart(let replica):
            // Everything in memory is gone; the new replica knows only what its store kept.
            guard self.crashed.remove(replica) != nil else { return }
            do {
                let restarted = try Replica(identity: "\(replica)", configuration: self.baseConfiguration!,
                                            behavior: self.behaviors[replica], storage: self.stores[replica], now: self.now)
                self.replicas[replica] = restarted
                self.timerAt[replica] = nil
                self.recordedHeights[replica] = min(self.recordedHeights[replica] ?? 0, restarted.committed.count)
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
            guard !self.crashed.contains(replica), let running = self.replicas[replica] else { return }
            self.dispatch(running.announce(now: self.now), from: replica)
            self.rearmTimer(replica)
        case .reconfigure(let step):
            self.proposeReconfiguration(step)
        }
    }

    /// Hands `operation` to every validator that is up (each may miss it while faults last).
    private func submitToAll(_ operation: Operation) {
        for index in self.replicas.indices where !self.crashed.contains(index) {
            guard let replica = self.replicas[index] else { continue }
            guard self.faultsActive ? !self.random.chance(self.configuration.drop) : true else { continue }
            self.dispatch(replica.submit(operation, now: self.now), from: index)
            self.rearmTimer(index)
        }
    }

    private var reconfigurationSequence: UInt64 = 0

    /// Step `step` of the configured reconfigurations: once an honest validator reached the epoch before, it
    /// proposes the next one's validators; repeated every second until some honest validator is in that epoch,
    /// then the next step follows.
    private func proposeReconfiguration(_ step: Int) {
        let target = UInt64(step + 1)
        let honest = self.replicas.indices.filter { self.behaviors[$0] == .honest && !self.crashed.contains($0) }
        if honest.contains(where: { (self.replicas[$0]?.epoch ?? 0) >= target }) {
            if step + 1 < self.configuration.reconfigurations.count {
                self.schedule(.reconfigure(step + 1), at: self.now + 200 + self.random.next() % 2000)
            }
            return
        }
        self.schedule(.reconfigure(step), at: self.now + 1000)
        guard let proposer = honest.first(where: { self.replicas[$0]?.epoch == target - 1 && self.replicas[$0]?.isMember == true }),
              let replica = self.replicas[proposer] else { return }
        let change = ValidatorChange(epoch: target, members: self.configuration.reconfigurations[step].map {
            ValidatorMember(nodeID: "\($0)", address: "")
        })
        self.reconfigurationSequence += 1
        var operation = Operation(kind: .reconfigure, proposer: replica.id, sequence: self.reconfigurationSequence,
                                  subject: "epoch-\(target)", amount: 0, timestampMilliseconds: Int64(self.now),
                                  time: replica.timeReferenceForClients, payload: change.bytes)
        operation.work = WorkProof.solve(digest: operation.digest, bits: self.configuration.workBits)
        operation.signature = self.signer.sign(operation.digest.bytes, as: proposer)
        if self.configuration.trace { self.traceLines.append("\(self.now) ms reconfigure to epoch \(target) by \(proposer)") }
        self.submitToAll(operation)
    }

    /// Validators that an epoch some honest validator reached names, not running yet: started from a copy of
    /// that validator's committed chain and epoch proofs.
    private func promoteJoiners(seenBy index: Int) {
        guard let source = self.replicas[index], self.behaviors[index] == .honest, let epoch = source.ledger.validators else { return }
        for member in epoch.members {
            guard let joiner = Int(member.nodeID), self.replicas.indices.contains(joiner), self.replicas[joiner] == nil else { continue }
            do {
                let held = try self.stores[joiner].committedHeight()
                try self.stores[joiner].append(source.committed.filter { $0.height > held })
                try self.stores[joiner].append(epochProofs: source.epochProofs.values.sorted { $0.epoch < $1.epoch })
                self.replicas[joiner] = try Replica(identity: member.nodeID, configuration: self.baseConfiguration!,
                                                    behavior: self.behaviors[joiner], storage: self.stores[joiner], now: self.now)
                if self.configuration.trace { self.traceLines.append("\(self.now) ms validator \(joiner) joins in epoch \(epoch.number)") }
            } catch {
                self.storageProblems.append("validator \(joiner) cannot start from validator \(index)'s chain: \(error)")
            }
        }
    }

    private var faultsActive: Bool { self.now < self.configuration.faultsEndMilliseconds }

    private func dispatch(_ outgoing: [Replica.Outgoing], from sender: Int) {
        guard self.behaviors[sender] != .silent, let replica = self.replicas[sender] else { return }
        for item in outgoing {
            let epoch = item.epoch ?? replica.epoch
            // Participant indexes of the message's epoch, as key indexes.
            let members = (replica.members(ofEpoch: epoch) ?? []).compactMap { Int($0.nodeID) }
            let targets: [Int]
            switch item.destination {
            case .all: targets = members.filter { $0 != sender }
            case .one(let target): targets = members.indices.contains(target) ? [members[target]] : []
            case .some(let list): targets = list.filter { members.indices.contains($0) }.map { members[$0] }.filter { $0 != sender }
            }
            for target in targets { self.send(item.message, epoch: epoch, from: sender, to: target) }
        }
    }

    private func send(_ message: ConsensusMessage, epoch: UInt64, from sender: Int, to target: Int) {
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
        self.schedule(.deliver(message, epoch: epoch, to: target), at: self.now + delay)
        if self.faultsActive && self.random.chance(self.configuration.duplicate) {
            self.statistics.duplicated += 1
            self.schedule(.deliver(message, epoch: epoch, to: target), at: self.now + delay + 1 + self.random.next() % self.configuration.maximumDelayMilliseconds)
        }
    }

    private func rearmTimer(_ replica: Int) {
        self.recordCommits(of: replica)
        guard let deadline = self.replicas[replica]?.timeoutDeadline else { return }
        if let armed = self.timerAt[replica], armed <= deadline { return }
        self.timerAt[replica] = deadline
        self.schedule(.timer(replica), at: max(deadline, self.now))
    }

    private var recordedHeights: [Int: Int] = [:]

    private func recordCommits(of replica: Int) {
        guard self.behaviors[replica] == .honest, let running = self.replicas[replica] else { return }
        let blocks = running.committed
        let from = self.recordedHeights[replica] ?? 0
        guard blocks.count > from else { return }
        if !self.configuration.reconfigurations.isEmpty { self.promoteJoiners(seenBy: replica) }
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
        let expected = self.plans.count + self.configuration.reconfigurations.count
        let reconfigured = self.configuration.reconfigurations.isEmpty
            || self.replicas.contains { $0?.epoch == UInt64(self.configuration.reconfigurations.count) }
        let lastEpoch = UInt64(self.configuration.reconfigurations.count)
        return reconfigured && self.finalValidators.allSatisfy { index in
            self.behaviors[index] != .honest || self.crashed.contains(index)
                || ((self.replicas[index]?.ledgerOperationCount ?? 0) >= expected && self.replicas[index]?.epoch == lastEpoch
                    && (lastEpoch == 0 || self.operations.allSatisfy { self.replicas[index]!.committedOperationDigests.contains($0.digest) }))
        }
    }

    /// The key indexes of the last configured epoch's validators (epoch 0's without reconfigurations): those
    /// that must end with every operation committed.
    private var finalValidators: [Int] {
        self.configuration.reconfigurations.last ?? Array(0..<self.configuration.validators)
    }

    // MARK: - Checks

    private func report() -> SimulationReport {
        var report = SimulationReport(configuration: self.configuration)
        report.behaviors = self.behaviors
        report.safetyViolations += self.storageProblems
        for index in self.replicas.indices {
            if let failure = self.replicas[index]?.storageFailure {
                report.safetyViolations.append("validator \(index)'s store failed: \(failure)")
            }
        }
        let honest = self.replicas.indices.filter { self.behaviors[$0] == .honest && self.replicas[$0] != nil }
        // Safety: at every height, one block among all honest validators; each ledger a prefix of the longest.
        let chains = honest.map { self.replicas[$0]!.committed.map(\.hash) }
        let longest = chains.max { $0.count < $1.count } ?? []
        for (position, index) in honest.enumerated() {
            let chain = chains[position]
            for (height, hash) in chain.enumerated() where hash != longest[height] {
                report.safetyViolations.append(
                    "validator \(index) committed \(hash) at height \(height + 1), another honest validator \(longest[height])")
                break
            }
        }
        // Liveness: every operation committed by every honest validator of the last epoch that is up, after
        // every reconfiguration committed.
        let lastEpoch = UInt64(self.configuration.reconfigurations.count)
        if lastEpoch > 0 && !honest.contains(where: { self.replicas[$0]!.epoch == lastEpoch }) {
            report.livenessViolations.append("no honest validator reached epoch \(lastEpoch) by \(self.now) ms")
        }
        for index in self.finalValidators where self.behaviors[index] == .honest && self.replicas[index] == nil {
            report.livenessViolations.append("validator \(index) of the last epoch never started")
        }
        for index in honest where !self.crashed.contains(index) && self.finalValidators.contains(index) && self.replicas[index]!.epoch != lastEpoch {
            report.livenessViolations.append("validator \(index) is in epoch \(self.replicas[index]!.epoch), not \(lastEpoch)")
        }
        let valid = Set(self.operations.map(\.digest))
        for index in honest where !self.crashed.contains(index) && self.finalValidators.contains(index) {
            let missing = valid.subtracting(self.replicas[index]!.committedOperationDigests).count
            if missing > 0 {
                report.livenessViolations.append("validator \(index) has \(missing) of \(valid.count) operations uncommitted at "
                    + "\(self.now) ms (faults ended at \(self.configuration.faultsEndMilliseconds) ms)")
            }
        }
        report.trace = self.traceLines
        for index in self.replicas.indices where self.configuration.trace {
            guard let replica = self.replicas[index] else { continue }
            report.trace.append("replica \(index) epoch \(replica.epoch): view \(replica.view) highQC h\(replica.highQC.height) v\(replica.highQC.view) "
                + "committed h\(replica.committedHeight) pending \(replica.hasPendingWork) refusals \(replica.refusals.suffix(3))")
        }
        report.committedHeight = longest.count
        report.committedOperations = honest.filter { self.finalValidators.contains($0) }.map { self.replicas[$0]!.ledgerOperationCount }.min() ?? 0
        report.views = self.replicas.compactMap { $0?.view }.max() ?? 0
        report.timeouts = self.replicas.compactMap { $0?.timeouts }.reduce(0, +)
        report.messagesSent = self.statistics.sent
        report.messagesDropped = self.statistics.dropped
        report.messagesDuplicated = self.statistics.duplicated
        report.crashes = self.statistics.crashes
        report.refusals = honest.map { self.replicas[$0]!.refusals.count }.reduce(0, +)
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
            where self.replicas[other]!.committed.count == self.replicas[index]!.committed.count
                && self.replicas[other]!.ledger != self.replicas[index]!.ledger {
                report.safetyViolations.append("validators \(index) and \(other) committed the same blocks but hold different ledgers")
            }
        }
        return report
    }
}

extension Simulator {
    /// What validator `index` committed, oldest first (after ``run()``).
    public func committedBlocks(of index: Int) -> [Block] { self.replicas[index]?.committed ?? [] }

    /// The validator epoch validator `index` reached (after ``run()``).
    public func epoch(of index: Int) -> UInt64 { self.replicas[index]?.epoch ?? 0 }
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
