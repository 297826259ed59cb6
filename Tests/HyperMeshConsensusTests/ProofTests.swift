import Crypto
import Foundation
import Testing
@testable import HyperMeshConsensus

struct ProofTests {
    let digest = ConsensusHash.of(Array("operation".utf8))

    @Test func workProofsMeetTheirDifficultyAndTooFewBitsAreRefused() {
        let proof = WorkProof.solve(digest: self.digest, bits: 12)
        #expect(proof.verify(digest: self.digest, bits: 12) == .accepted)
        #expect(WorkProof.leadingZeroBits(digest: self.digest, nonce: proof.nonce) >= 12)
        // The same nonce does not carry over to another digest, and demands beyond what it has are refused.
        let other = ConsensusHash.of(Array("another".utf8))
        let found = WorkProof.leadingZeroBits(digest: self.digest, nonce: proof.nonce)
        #expect(proof.verify(digest: self.digest, bits: found + 1) == .refused("work: \(found) leading zero bits, \(found + 1) required"))
        #expect(!WorkProof(nonce: proof.nonce).verify(digest: other, bits: 12).isAccepted
                || WorkProof.leadingZeroBits(digest: other, nonce: proof.nonce) >= 12)
    }

    @Test func historyChainsVerifyInParallelAndForgeriesAreFound() {
        var chain = HistoryChain(seed: self.digest, checkpointInterval: 100)
        chain.advance(by: 1000)
        #expect(chain.checkpoints.count == 11)
        #expect(HistoryChain.verify(seed: self.digest, checkpoints: chain.checkpoints, interval: 100) == .accepted)
        var forged = chain.checkpoints
        forged[7] = ConsensusHash.of([7])
        #expect(HistoryChain.verify(seed: self.digest, checkpoints: forged, interval: 100)
            == .refused("time: checkpoint 7 does not follow from checkpoint 6"))
        #expect(HistoryChain.verify(seed: .zero, checkpoints: chain.checkpoints, interval: 100)
            == .refused("time: the chain does not start at its seed"))
        let tick: UInt64 = 950
        let hash = chain.hash(at: tick)!
        #expect(chain.verifyReference(tick: tick, hash: hash, maximumAge: 100) == .accepted)
        #expect(chain.verifyReference(tick: 2000, hash: hash, maximumAge: 100)
            == .refused("time: tick 2000 is in the future (chain at 1000)"))
        #expect(chain.verifyReference(tick: 10, hash: chain.hash(at: 10)!, maximumAge: 100)
            == .refused("time: tick 10 is older than 100 ticks (chain at 1000)"))
        #expect(chain.verifyReference(tick: tick, hash: .zero, maximumAge: 100)
            == .refused("time: the hash named for tick 950 is not on the chain"))
    }

    @Test func validatorsRefuseForgedSignaturesThinWorkAndDriftingClocks() throws {
        let signer = SimulatedSigner(participants: 4, seed: 9)
        var configuration = ReplicaConfiguration(validators: 4, signer: signer)
        configuration.workBits = 6
        let replica = try Replica(id: 0, configuration: configuration)
        func operation(timestamp: Int64 = 0, signAs: Int = 1, bits: Int = 6) -> HyperMeshConsensus.Operation {
            var operation = HyperMeshConsensus.Operation(kind: .stake, proposer: 1, sequence: 1, subject: "-", amount: 5, timestampMilliseconds: timestamp)
            operation.work = WorkProof.solve(digest: operation.digest, bits: bits)
            operation.signature = signer.sign(operation.digest.bytes, as: signAs)
            return operation
        }
        #expect(replica.check(operation()) == .accepted)
        #expect(replica.check(operation(signAs: 2)) == .refused("stake: the signature is not the proposer's"))
        var thin = operation(bits: 0)
        while WorkProof.leadingZeroBits(digest: thin.digest, nonce: thin.work.nonce) >= 6 { thin.work.nonce += 1 }
        #expect(!replica.check(thin).isAccepted)
        #expect(replica.check(operation(timestamp: 400_000)).description.contains("time: timestamp 400000"))

        // A mesh that does not demand work, stake or time proofs does not refuse for their absence.
        configuration.requirements = ProofRequirements(meshSpec: .object(["consensus": .object([
            "requireWork": .bool(false), "requireStake": .bool(false), "requireTime": .bool(false),
        ])]))
        let lenient = try Replica(id: 0, configuration: configuration)
        #expect(lenient.check(thin) == .accepted)
        #expect(lenient.check(operation(timestamp: 400_000, signAs: 2)) == .accepted)
    }

    @Test func meshSpecsSetTheRequirements() {
        let requirements = ProofRequirements(meshSpec: .object(["consensus": .object([
            "requireSpace": .bool(true), "minimumStake": .integer(50), "maxClockDrift": .string("30s"),
        ])]))
        #expect(requirements.space && requirements.stake && requirements.work && requirements.time)
        #expect(requirements.minimumStake == 50 && requirements.maximumClockDriftMilliseconds == 30_000)
        #expect(ProofRequirements(meshSpec: .object([:])) == ProofRequirements())
    }

    @Test func theLedgerAppliesDeterministicallyAndRecordsRefusals() {
        var ledger = LedgerState()
        let operations = [
            HyperMeshConsensus.Operation(kind: .offerPool, proposer: 1, sequence: 1, subject: "p", amount: 4, timestampMilliseconds: 0),
            HyperMeshConsensus.Operation(kind: .stake, proposer: 1, sequence: 2, subject: "-", amount: 10, timestampMilliseconds: 0),
            HyperMeshConsensus.Operation(kind: .offerPool, proposer: 1, sequence: 3, subject: "p", amount: 4, timestampMilliseconds: 0),
            HyperMeshConsensus.Operation(kind: .stake, proposer: 2, sequence: 1, subject: "-", amount: 10, timestampMilliseconds: 0),
            HyperMeshConsensus.Operation(kind: .claim, proposer: 2, sequence: 2, subject: "p", amount: 3, timestampMilliseconds: 0),
            HyperMeshConsensus.Operation(kind: .claim, proposer: 2, sequence: 3, subject: "p", amount: 3, timestampMilliseconds: 0),
            HyperMeshConsensus.Operation(kind: .release, proposer: 2, sequence: 4, subject: "p", amount: 0, timestampMilliseconds: 0),
        ]
        for operation in operations { ledger.apply(operation, minimumStake: 5) }
        #expect(ledger.rejected.map(\.reason) == ["stake 0 below the minimum 5", "pool p has 1 cores free, 3 asked"])
        #expect(ledger.pools["p"]?.claimed == 0)
        #expect(ledger.appliedCount == 5)
    }
}

struct SpaceProofTests {
    @Test func plotsAnswerChallengesAndForgeriesOrLateAnswersAreRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plot-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let plot = try SpacePlot.create(at: path, nodeID: Array("node-a".utf8), seed: ConsensusHash.of([1]), leafCount: 256, rounds: 50)
        let challenge = ConsensusHash.of(Array("block 42".utf8))
        let openings = try plot.prove(challenge: challenge, count: 8)
        let commitment = plot.commitment
        func verify(_ openings: [SpaceOpening], after elapsed: Duration = .milliseconds(5)) -> ProofVerdict {
            SpacePlot.verify(openings, commitment: commitment, challenge: challenge, count: 8, answeredAfter: elapsed,
                             deadline: .milliseconds(500))
        }
        #expect(verify(openings) == .accepted)
        var wrongPath = openings
        wrongPath[0].path[2] = .zero
        #expect(verify(wrongPath) == .refused("space: the Merkle path of leaf \(openings[0].index) does not reach the root"))
        var wrongLeaf = openings
        wrongLeaf[1].leaf = ConsensusHash.of([9])
        #expect(verify(wrongLeaf) == .refused("space: leaf \(openings[1].index) is not derived from the node id and plot seed"))
        #expect(verify(openings, after: .seconds(2)) == .refused("space: answered after 2.0 seconds, deadline 0.5 seconds"))
        var otherLeaves = openings
        otherLeaves[0].index = (openings[0].index + 1) % 256
        #expect(verify(otherLeaves) == .refused("space: the answer opens other leaves than challenged"))
        // Another node's plot does not answer for this commitment.
        let other = try SpacePlot.create(at: path + "-b", nodeID: Array("node-b".utf8), seed: ConsensusHash.of([1]), leafCount: 256,
                                         rounds: 50)
        defer { try? FileManager.default.removeItem(atPath: path + "-b") }
        #expect(!verify(try other.prove(challenge: challenge, count: 8)).isAccepted)
    }

    @Test func addressBindingsAreSignedByTheNodeKeyAndRecent() throws {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let binding = try AddressBinding.sign(address: "10.0.0.2:9292", with: key, at: now)
        func verify(_ binding: AddressBinding, at time: Date = now) -> ProofVerdict {
            binding.verify(now: time, maximumAgeMilliseconds: 3_600_000, maximumDriftMilliseconds: 300_000)
        }
        #expect(binding.nodeID == NodeKeySigner.nodeID(of: key.publicKey))
        #expect(verify(binding) == .accepted)
        var moved = binding
        moved.address = "10.0.0.66:9292"
        #expect(verify(moved) == .refused("space: the address binding's signature does not verify"))
        var otherNode = binding
        otherNode.nodeID = String(repeating: "ab", count: 32)
        #expect(verify(otherNode) == .refused("space: the address binding's key is not node abababababab…'s"))
        var noKey = binding
        noKey.publicKey = [1, 2, 3]
        #expect(verify(noKey) == .refused("space: the address binding carries no P-256 key"))
        #expect(verify(binding, at: now.addingTimeInterval(7200)) == .refused("space: the address binding is 7200000 ms old, at most 3600000 accepted"))
        #expect(verify(binding, at: now.addingTimeInterval(-600)) == .refused("space: the address binding is signed 600000 ms in the future"))
    }
}
