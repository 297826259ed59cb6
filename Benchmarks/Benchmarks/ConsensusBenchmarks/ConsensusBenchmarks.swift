import Benchmark
import Crypto
import Foundation
import HyperMeshConsensus

// Ordering throughput of chained HotStuff with 4 validators in one process (the simulator with no faults),
// and the cost of making and checking each proof type.
let benchmarks: @Sendable () -> Void = {
    commitLatencyBenchmarks()
    followerCatchUpBenchmarks()
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(20), maxIterations: 10)

    for admission in [false, true] {
        Benchmark("HotStuff: 10,000 operations made, ordered and applied by 4 validators (simulated network, "
                  + (admission ? "PoWork admission control on)" : "fixed PoWork)"),
                  configuration: .init(metrics: [.wallClock], scalingFactor: .kilo)) { benchmark in
            var configuration = SimulationConfiguration()
            configuration.validators = 4
            configuration.byzantine = 0
            configuration.operations = 10_000
            configuration.faultsEndMilliseconds = 100
            configuration.seed = 1
            configuration.workAdmissionThreshold = admission ? 1000 : 1_000_000
            benchmark.startMeasurement()
            let report = Simulator(configuration: configuration).run()
            benchmark.stopMeasurement()
            precondition(report.passed && report.committedOperations == 10_000, report.text)
        }
    }

    let digest = ConsensusHash.of(Array("operation".utf8))
    Benchmark("PoWork: solve 16 bits") { benchmark in
        for start in benchmark.scaledIterations { blackHole(WorkProof.solve(digest: digest, bits: 16, start: UInt64(start) << 32)) }
    }
    let proof = WorkProof.solve(digest: digest, bits: 16)
    Benchmark("PoWork: verify", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(proof.verify(digest: digest, bits: 16)) }
    }
    var chain = HistoryChain(seed: digest, checkpointInterval: 10_000)
    chain.advance(by: 200_000)
    Benchmark("PoTime: verify 200,000 ticks (20 checkpoint spans, in parallel)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(HistoryChain.verify(seed: digest, checkpoints: chain.checkpoints, interval: 10_000))
        }
    }
    Benchmark("PoTime: advance a history chain by 100,000 ticks (one validator's 100 s at the default rate)") { benchmark in
        for _ in benchmark.scaledIterations {
            var history = HistoryChain(seed: digest, checkpointInterval: 1000)
            history.advance(by: 100_000)
            blackHole(history.head)
        }
    }
    let nodeKey = P256.Signing.PrivateKey()
    let nodeSigner = NodeKeySigner(nodeIDs: [NodeKeySigner.nodeID(of: nodeKey.publicKey)], privateKey: nodeKey)
    let nodeSignature = nodeSigner.sign(digest.bytes, as: 0)
    Benchmark("PoStake: node key (P-256) sign, as validators sign votes and operations", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(nodeSigner.sign(digest.bytes, as: 0)) }
    }
    Benchmark("PoStake: node key (P-256) verify, key checked against the node id", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(nodeSigner.verify(nodeSignature, of: digest.bytes, by: 0)) }
    }
    let signer = Ed25519Signer(participants: 1)
    let signature = signer.sign(digest.bytes, as: 0)
    Benchmark("PoStake: Ed25519 sign", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(signer.sign(digest.bytes, as: 0)) }
    }
    Benchmark("PoStake: Ed25519 verify", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(signer.verify(signature, of: digest.bytes, by: 0)) }
    }

    // PoSpace's deadline argument: answering from the plot vs. recomputing it (a prover without the data).
    let plotPath = NSTemporaryDirectory() + "consensus-bench-plot-\(getpid())"
    let plotConfiguration = (leaves: 1 << 14, rounds: 1000)
    Benchmark("PoSpace: create a plot of 16,384 leaves × 1,000 rounds (what a prover without it must redo)",
              configuration: .init(metrics: [.wallClock], maxIterations: 3)) { benchmark in
        benchmark.startMeasurement()
        blackHole(try SpacePlot.create(at: plotPath, nodeID: Array("node".utf8), seed: digest, leafCount: plotConfiguration.leaves,
                                       rounds: plotConfiguration.rounds))
        benchmark.stopMeasurement()
    }
    Benchmark("PoSpace: verify 16 openings of a 1,024-leaf × 1,000-round plot", configuration: .init(metrics: [.wallClock])) { benchmark in
        let plot = try SpacePlot.create(at: plotPath + "-verify", nodeID: Array("node".utf8), seed: digest, leafCount: 1 << 10,
                                        rounds: plotConfiguration.rounds)
        let openings = try plot.prove(challenge: digest, count: 16)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(SpacePlot.verify(openings, commitment: plot.commitment, challenge: digest, count: 16,
                                       answeredAfter: .milliseconds(1), deadline: .seconds(1)))
        }
        benchmark.stopMeasurement()
    }
    Benchmark("PoSpace: answer 16 challenges from the plot on disk", configuration: .init(metrics: [.wallClock])) { benchmark in
        let plot = try SpacePlot.create(at: plotPath + "-answer", nodeID: Array("node".utf8), seed: digest, leafCount: 1 << 10,
                                        rounds: plotConfiguration.rounds)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try plot.prove(challenge: digest, count: 16)) }
        benchmark.stopMeasurement()
    }
}

/// Four validators with P-256 node keys (as validator processes sign) over LocalCluster's instant
/// network: each iteration submits a batch and delivers until every validator has committed it, so the
/// iteration's wall time is the batch's commit latency.
final class CommitLatencyRig: @unchecked Sendable {
    let cluster: LocalCluster
    let keys = (0..<4).map { _ in P256.Signing.PrivateKey() }
    let signers: [NodeKeySigner]
    var sequence: UInt64 = 0
    var clock: UInt64 = 1_000

    init(ledgerDirectory: String?) throws {
        let nodeIDs = self.keys.map { NodeKeySigner.nodeID(of: $0.publicKey) }
        self.signers = self.keys.map { NodeKeySigner(nodeIDs: nodeIDs, privateKey: $0) }
        let configurations = self.signers.map { signer -> ReplicaConfiguration in
            var configuration = ReplicaConfiguration(validators: 4, signer: signer)
            configuration.requirements.time = false
            return configuration
        }
        let stores: [(any ReplicaStorage)?] = try (0..<4).map { index in
            guard let ledgerDirectory else { return nil }
            return try LedgerStore(path: "\(ledgerDirectory)/ledger-\(index).sqlite")
        }
        self.cluster = try LocalCluster(configurations: configurations, stores: stores)
    }

    func operations(_ count: Int) -> [HyperMeshConsensus.Operation] {
        (0..<count).map { index in
            self.sequence += 1
            let proposer = index % 4
            var operation = HyperMeshConsensus.Operation(kind: .stake, proposer: proposer, sequence: self.sequence, subject: "-",
                                                         amount: 1, timestampMilliseconds: 0)
            operation.work = WorkProof.solve(digest: operation.digest, bits: 8)
            operation.signature = self.signers[proposer].sign(operation.digest.bytes, as: proposer)
            return operation
        }
    }

    /// Submits `operations` and delivers until all four validators applied them.
    func commit(_ operations: [HyperMeshConsensus.Operation]) {
        let target = self.cluster.replicas[0].ledger.appliedCount + operations.count
        for operation in operations { self.cluster.submit(operation, now: self.clock) }
        while self.cluster.replicas.contains(where: { $0.ledger.appliedCount < target }) {
            self.clock += 1
            self.cluster.deliverAll(now: self.clock)
        }
    }
}

/// Builds its rig on first use, so registering benchmarks costs nothing.
final class LazyRig: @unchecked Sendable {
    private let directory: String?
    private var rig: CommitLatencyRig?

    init(directory: String?) {
        self.directory = directory
    }

    func get() throws -> CommitLatencyRig {
        if let rig { return rig }
        if let directory { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let made = try CommitLatencyRig(ledgerDirectory: self.directory)
        self.rig = made
        return made
    }
}

/// Commit latency in wall-clock time: one sample per batch, from submission until all four validators
/// applied it (p50/p99 are the benchmark's percentiles).
let commitLatencyBenchmarks: @Sendable () -> Void = {
    let base = NSTemporaryDirectory() + "consensus-bench-\(getpid())"
    for (label, persisted) in [("in memory", false), ("SQLite ledger files", true)] {
        for batch in [1, 100] {
            let rig = LazyRig(directory: persisted ? "\(base)/\(batch)" : nil)
            Benchmark("HotStuff commit latency: \(batch) operation(s), 4 validators, P-256 keys, instant network, \(label)",
                      configuration: .init(metrics: [.wallClock], maxDuration: .seconds(10), maxIterations: 300)) { benchmark in
                let rig = try rig.get()
                let operations = rig.operations(batch)
                benchmark.startMeasurement()
                rig.commit(operations)
                benchmark.stopMeasurement()
            }
        }
    }
}

/// A follower (a member that is not a validator) catching up: 100,000 mesh operations committed by 4 validators
/// with P-256 node keys (made once, not timed), then served the way an agent's validator serves
/// `hm-ledger-sync/1`: pages of 256 blocks with the commit proof, encoded to wire bytes. Timed: decoding every
/// page, checking the certificates, applying the operations and storing the blocks in a new SQLite ledger file.
let followerCatchUpBenchmarks: @Sendable () -> Void = {
    final class Chain: @unchecked Sendable {
        let store: LedgerStore
        let nodeIDs: [String]
        let proof: LedgerSync.CommitProof?
        let operations: Int

        init(operations count: Int) throws {
            let store = try LedgerStore()
            let (cluster, nodeIDs) = try LocalCluster.withNodeKeys(4, stores: [store, nil, nil, nil]) { configuration in
                configuration.workBits = 2
                configuration.requirements.time = false
                configuration.workAdmissionThreshold = 1_000_000
            }
            let members = (0..<16).map { _ in P256.Signing.PrivateKey() }
            let offer = OfferTerms(privacy: "public-network", allow: [], total: LedgerAmounts(cpuMillis: 1_000_000),
                                   maximumPerClaim: LedgerAmounts(cpuMillis: 1_000_000))
            var now: UInt64 = 0
            for sequence in 0..<UInt64(count) {
                let member = members[Int(sequence) % members.count]
                var operation = HyperMeshConsensus.Operation(kind: .offer, proposer: -1, sequence: sequence, subject: "pool-\(sequence % 5000)", amount: 0,
                                          timestampMilliseconds: 0, node: NodeKeySigner.nodeID(of: member.publicKey),
                                          payload: MeshTerms.offer(offer).bytes)
                operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
                operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: member)
                cluster.submit(operation, now: now)
                if sequence % 2000 == 1999 {
                    for _ in 0..<20 {
                        now += 50
                        cluster.deliverAll(now: now)
                        cluster.fireTimers(now: now)
                    }
                }
            }
            for _ in 0..<400 where cluster.replicas[0].ledger.appliedCount < count {
                now += 50
                cluster.deliverAll(now: now)
                cluster.fireTimers(now: now)
            }
            precondition(cluster.replicas[0].ledger.appliedCount == count, "only \(cluster.replicas[0].ledger.appliedCount) of \(count) committed")
            self.store = store
            self.nodeIDs = nodeIDs
            self.proof = cluster.replicas[0].commitProof
            self.operations = count
        }
    }
    nonisolated(unsafe) var chain: Chain?
    Benchmark("Follower: catch up 100,000 committed operations (pages of 256 blocks decoded, QCs checked, applied, stored in SQLite)",
              configuration: .init(metrics: [.wallClock], maxDuration: .seconds(60), maxIterations: 5)) { benchmark in
        if chain == nil { chain = try Chain(operations: 100_000) }
        let made = chain!
        let directory = NSTemporaryDirectory() + "follower-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pages = try stride(from: UInt64(0), to: made.store.blocks().last?.height ?? 0, by: LedgerSync.maximumBlocks).map { above in
            LedgerSync(blocks: try made.store.blocks(above: above, limit: LedgerSync.maximumBlocks), proof: made.proof, time: nil).bytes
        }
        benchmark.startMeasurement()
        let follower = try LedgerFollower(validatorNodeIDs: made.nodeIDs, minimumStake: 0,
                                          store: try LedgerStore(path: directory + "/ledger.sqlite"))
        for page in pages { _ = try follower.accept(try LedgerSync(decoding: page)) }
        benchmark.stopMeasurement()
        precondition(follower.ledger.appliedCount == made.operations, "the follower applied \(follower.ledger.appliedCount)")
    }
}
