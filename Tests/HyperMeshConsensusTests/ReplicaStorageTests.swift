import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import HyperMeshConsensus

/// Validators write their safety state and blocks to SQLite before their messages leave, and a validator
/// started again from its file carries on where it stopped.
struct ReplicaStorageTests {
    static func operations(_ count: Int, signer: any ConsensusSigner, from first: UInt64 = 1) -> [HyperMeshConsensus.Operation] {
        (0..<count).map { index in
            let proposer = index % 4
            var operation = HyperMeshConsensus.Operation(kind: .stake, proposer: proposer, sequence: first + UInt64(index),
                                                         subject: "-", amount: 1, timestampMilliseconds: 0)
            operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
            operation.signature = signer.sign(operation.digest.bytes, as: proposer)
            return operation
        }
    }

    @Test func aValidatorRestartedFromItsFileKeepsItsLedgerLockAndVotes() throws {
        let directory = try TemporaryDirectory(prefix: "replica-store")
        defer { directory.remove() }
        let signer = SimulatedSigner(participants: 4, seed: 11)
        var configuration = ReplicaConfiguration(validators: 4, signer: signer)
        configuration.workBits = 2
        configuration.requirements.time = false
        let stores = try (0..<4).map { try LedgerStore(path: directory.path + "/v\($0).sqlite") }
        let cluster = try LocalCluster(configuration: configuration, stores: stores)
        var now: UInt64 = 0
        func settle(_ rounds: Int = 200) {
            for _ in 0..<rounds {
                now += 50
                cluster.deliverAll(now: now)
                cluster.fireTimers(now: now)
            }
        }
        for operation in Self.operations(40, signer: signer) { cluster.submit(operation, now: now) }
        settle()
        let before = cluster.replicas[1]
        #expect(before.ledger.appliedCount == 40)
        #expect(try stores[1].committedHeight() == before.committedHeight)

        // Validator 1 goes down; the others carry on without it.
        cluster.down.insert(1)
        for operation in Self.operations(20, signer: signer, from: 100) { cluster.submit(operation, now: now) }
        settle()
        #expect(cluster.replicas[0].ledger.appliedCount == 60)

        // A new replica from the same file: the same committed chain, ledger, lock, vote and highest QC.
        let reopened = try LedgerStore(path: directory.path + "/v1.sqlite")
        let restored = try Replica(id: 1, configuration: configuration, storage: reopened, now: now)
        #expect(restored.committed.map(\.hash) == before.committed.map(\.hash))
        #expect(restored.ledger == before.ledger)
        #expect(restored.locked.hash == before.locked.hash)
        #expect(restored.votedView == before.votedView)
        #expect(restored.highQC == before.highQC)
        #expect(restored.view > before.votedView)

        // Back in the cluster it catches up with what it missed.
        try cluster.restart(1, now: now)
        for operation in Self.operations(8, signer: signer, from: 200) { cluster.submit(operation, now: now) }
        settle()
        #expect(cluster.replicas[1].ledger.appliedCount == 68)
        #expect(cluster.replicas[1].committed.map(\.hash) == cluster.replicas[0].committed.prefix(cluster.replicas[1].committed.count).map(\.hash))
        #expect(try stores[1].blocks().map(\.hash) == cluster.replicas[1].committed.map(\.hash))
    }

    @Test func aCorruptLedgerIsReportedNotTrusted() throws {
        let directory = try TemporaryDirectory(prefix: "replica-corrupt")
        defer { directory.remove() }
        let path = directory.path + "/ledger.sqlite"
        let signer = SimulatedSigner(participants: 4, seed: 12)
        var configuration = ReplicaConfiguration(validators: 4, signer: signer)
        configuration.workBits = 2
        configuration.requirements.time = false
        let store = try LedgerStore(path: path)
        let cluster = try LocalCluster(configuration: configuration, stores: [store, nil, nil, nil])
        for operation in Self.operations(12, signer: signer) { cluster.submit(operation, now: 0) }
        for step in 1...100 as ClosedRange<UInt64> {
            cluster.deliverAll(now: step * 50)
            cluster.fireTimers(now: step * 50)
        }
        #expect(try store.committedHeight() > 0)
        // Flip a byte inside a stored block: the block no longer hashes to its id.
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [path,
            "UPDATE blocks SET body = substr(body, 1, 40) || x'FF' || substr(body, 42) WHERE height = 1;"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(throws: HyperMeshError.corruptData()) { try Replica(id: 0, configuration: configuration, storage: LedgerStore(path: path)) }
    }
}
