import Crypto
import Foundation
import HyperMeshCore
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

    @Test func historyWindowsMixInBlocksAndExtendOnlyWithVerifiedSpans() {
        var chain = HistoryChain(seed: self.digest, checkpointInterval: 10)
        chain.nextMix = ConsensusHash.of([1])
        chain.advance(by: 25)
        chain.nextMix = ConsensusHash.of([2])
        chain.advance(by: 25)
        #expect(chain.mixes.count == 5 && chain.checkpoints.count == 6)
        #expect(HistoryChain.verify(seed: self.digest, checkpoints: chain.checkpoints, mixes: chain.mixes, interval: 10) == .accepted)
        // Mixing is part of the proof: the same checkpoints with other mixes do not verify.
        var otherMixes = chain.mixes
        otherMixes[3] = .zero
        #expect(HistoryChain.verify(seed: self.digest, checkpoints: chain.checkpoints, mixes: otherMixes, interval: 10)
            == .refused("time: checkpoint 4 does not follow from checkpoint 3"))

        // A peer's copy grows window by window; overlapping parts must agree.
        let first = chain.window(3)
        var copy = HistoryChain(seed: first.checkpoints[0], checkpointInterval: 10)
        #expect(copy.extend(from: first.first, checkpoints: first.checkpoints, mixes: first.mixes) == .accepted)
        #expect(copy.firstCheckpoint == 3 && copy.tick == 50)
        #expect(copy.hash(at: 45) == chain.hash(at: 45))
        #expect(copy.hash(at: 25) == nil)
        chain.advance(by: 30)
        let second = chain.window(4)
        #expect(copy.extend(from: second.first, checkpoints: second.checkpoints, mixes: second.mixes) == .accepted)
        #expect(copy.tick == 80 && copy.hash(at: 77) == chain.hash(at: 77))
        var tampered = chain.window(2)
        tampered.checkpoints[1] = .zero
        #expect(copy.extend(from: tampered.first, checkpoints: tampered.checkpoints, mixes: tampered.mixes)
            == .refused("time: checkpoint 8 differs from the one received before"))
        #expect(copy.extend(from: 8, checkpoints: [.zero, .zero], mixes: [])
            == .refused("time: a history window needs n checkpoints and n − 1 mixes"))
        // A window that does not overlap (the validator restarted its chain) replaces the copy.
        var restarted = HistoryChain(seed: ConsensusHash.of([9]), checkpointInterval: 10)
        restarted.advance(by: 20)
        let fresh = restarted.window(3)
        #expect(copy.extend(from: fresh.first, checkpoints: fresh.checkpoints, mixes: fresh.mixes) == .accepted)
        #expect(copy.firstCheckpoint == 0 && copy.tick == 20 && copy.hash(at: 15) == restarted.hash(at: 15))
        copy.trim(keeping: 1)
        #expect(copy.firstCheckpoint == 2 && copy.hash(at: 15) == nil)
    }

    @Test func validatorsRefuseForgedSignaturesThinWorkAndDriftingClocks() throws {
        let signer = SimulatedSigner(participants: 4, seed: 9)
        var configuration = ReplicaConfiguration(validators: 4, signer: signer)
        configuration.workBits = 6
        let replica = try Replica(id: 0, configuration: configuration)
        _ = replica.announce(now: 0)
        let reference = try #require(replica.timeReferenceForClients)
        func operation(timestamp: Int64 = 0, signAs: Int = 1, bits: Int = 6, time: TimeReference? = reference)
            -> HyperMeshConsensus.Operation
        {
            var operation = HyperMeshConsensus.Operation(kind: .stake, proposer: 1, sequence: 1, subject: "-", amount: 5,
                                                         timestampMilliseconds: timestamp, time: time)
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
        #expect(lenient.check(operation(timestamp: 400_000, signAs: 2, time: nil)) == .accepted)
    }

    /// PoWork's admission control: a validator whose queue fills demands more work of new operations, and
    /// validators do not vote for a block that announces less than the mesh's floor.
    @Test func aFillingQueueRaisesTheWorkDemandedAndBlocksAnnounceIt() throws {
        let signer = SimulatedSigner(participants: 4, seed: 12)
        var configuration = ReplicaConfiguration(validators: 4, signer: signer)
        configuration.workBits = 2
        configuration.workAdmissionThreshold = 10
        configuration.requirements.time = false
        let leader = configuration.leader(of: 1)
        let follower = try Replica(id: (leader + 1) % 4, configuration: configuration)
        func operation(_ sequence: UInt64, bits: Int) -> HyperMeshConsensus.Operation {
            var operation = HyperMeshConsensus.Operation(kind: .stake, proposer: 0, sequence: sequence, subject: "-", amount: 1,
                                                         timestampMilliseconds: 0)
            operation.work = WorkProof.solve(digest: operation.digest, bits: bits)
            while WorkProof.leadingZeroBits(digest: operation.digest, nonce: operation.work.nonce) > bits {
                operation.work = WorkProof.solve(digest: operation.digest, bits: bits, start: operation.work.nonce + 1)
            }
            operation.signature = signer.sign(operation.digest.bytes, as: 0)
            return operation
        }
        #expect(follower.admissionWorkBits == 2)
        for sequence in 1...10 as ClosedRange<UInt64> { _ = follower.submit(operation(sequence, bits: 2), now: 0) }
        #expect(follower.admissionWorkBits == 3)
        _ = follower.submit(operation(11, bits: 2), now: 0)
        #expect(follower.refusals.last?.hasSuffix("work: 2 leading zero bits, 3 required while 10 operations wait") == true)
        _ = follower.submit(operation(12, bits: 3), now: 0)
        #expect(follower.hasPendingWork && follower.refusals.count == 1)

        // A leader's block announces its demand; one below the floor is not voted for.
        let low = Block(parent: Block.genesis.hash, height: 1, view: 1, proposer: leader, justify: .genesis(Block.genesis.hash),
                        operations: [operation(20, bits: 2)], workBits: 1)
        #expect(follower.receive(.proposal(low), now: 0).isEmpty)
        #expect(follower.refusals.last == "block \(low.hash) not voted: it announces 1 bits of work, below the mesh's 2")
        let fine = Block(parent: Block.genesis.hash, height: 1, view: 2, proposer: configuration.leader(of: 2),
                         justify: .genesis(Block.genesis.hash), operations: [operation(21, bits: 2)], workBits: 3)
        #expect(!follower.receive(.proposal(fine), now: 0).isEmpty)
    }

    /// PoTime inside the ledger: operations name a recent tick of a validator's history chain, which the
    /// validators publish to each other; each way a reference can be wrong is refused with its reason.
    @Test func operationsNameARecentTickOfAPublishedHistory() throws {
        let signer = SimulatedSigner(participants: 4, seed: 10)
        var configuration = ReplicaConfiguration(validators: 4, signer: signer)
        configuration.workBits = 2
        configuration.requirements.maximumClockDriftMilliseconds = 10_000_000
        let author = try Replica(id: 1, configuration: configuration, now: 0)
        let checker = try Replica(id: 0, configuration: configuration, now: 0)
        func deliver(_ outgoing: [Replica.Outgoing], to replica: Replica, now: UInt64) {
            for item in outgoing { _ = replica.receive(item.message, now: now) }
        }
        func operation(_ time: TimeReference?, sequence: UInt64 = 1) -> HyperMeshConsensus.Operation {
            var operation = HyperMeshConsensus.Operation(kind: .stake, proposer: 2, sequence: sequence, subject: "-", amount: 1,
                                                         timestampMilliseconds: 0, time: time)
            operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
            operation.signature = signer.sign(operation.digest.bytes, as: 2)
            return operation
        }
        deliver(author.announce(now: 0), to: checker, now: 0)
        deliver(author.announce(now: 5_000), to: checker, now: 5_000)
        let reference = try #require(author.timeReferenceForClients)
        #expect(reference.validator == 1 && reference.tick == 0)
        deliver(author.announce(now: 10_000), to: checker, now: 10_000)
        let recent = try #require(author.timeReferenceForClients)
        #expect(recent.tick == 5_000)
        #expect(checker.check(operation(recent)) == .accepted)
        #expect(checker.check(operation(nil)) == .refused("time: the operation names no history tick"))
        #expect(checker.check(operation(TimeReference(validator: 3, tick: 0, hash: recent.hash)))
            == .refused("time: no history of validator 3 received yet"))
        #expect(checker.check(operation(TimeReference(validator: 1, tick: recent.tick, hash: .zero)))
            == .refused("time: the hash named for tick 5000 is not on the chain (validator 1's)"))
        #expect(checker.check(operation(TimeReference(validator: 1, tick: 99_000, hash: recent.hash)))
            == .refused("time: tick 99000 is in the future (chain at 10000) (validator 1's)"))
        // An operation naming a tick this validator has not seen yet waits for the history, then enters.
        let early = try Replica(id: 2, configuration: configuration, now: 0)
        _ = early.submit(operation(recent, sequence: 3), now: 10_000)
        #expect(!early.hasPendingWork && early.refusals.isEmpty)
        deliver(author.announce(now: 10_000), to: early, now: 10_000)
        #expect(early.hasPendingWork)
        // Two minutes on, tick 5000 is stale.
        deliver(author.announce(now: 130_000), to: checker, now: 130_000)
        #expect(checker.check(operation(recent, sequence: 2))
            == .refused("time: tick 5000 is older than 120000 ticks (chain at 130000) (validator 1's)"))
        // A forged history is refused, and what was verified before stays.
        let before = checker.refusals.count
        var window = author.history.window(3)
        window.checkpoints[2] = .zero
        _ = checker.receive(.history(from: 1, first: window.first + 10, checkpoints: window.checkpoints, mixes: window.mixes), now: 130_000)
        #expect(checker.refusals.count == before + 1)
        #expect(checker.refusals.last?.hasPrefix("history of validator 1: time: a checkpoint after") == true)
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

/// PoSpace inside the ledger: an offered pool carries the proposer's plot commitment, the openings a
/// committed block's hash challenges, and its signed address; validators refuse each way it can be wrong.
struct SpaceInLedgerTests {
    @Test func offeredPoolsMustProveTheirProposersSpaceInTime() throws {
        let keys = (0..<4).map { _ in P256.Signing.PrivateKey() }
        let nodeIDs = keys.map { NodeKeySigner.nodeID(of: $0.publicKey) }
        let signers = keys.map { NodeKeySigner(nodeIDs: nodeIDs, privateKey: $0) }
        var configuration = ReplicaConfiguration(validators: 4, signer: signers[0])
        configuration.workBits = 2
        configuration.requirements.time = false
        configuration.requirements.space = true
        configuration.space.minimumLeaves = 64
        configuration.space.minimumRounds = 10
        configuration.space.challenges = 8
        configuration.space.deadlineMilliseconds = 1_000
        let start: UInt64 = 1_700_000_000_000
        let checker = try Replica(id: 0, configuration: configuration, now: start)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("space-ledger-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func plot(_ node: Int, leaves: Int = 64) throws -> SpacePlot {
            try SpacePlot.create(at: directory.appendingPathComponent("plot-\(node)-\(leaves)").path,
                                 nodeID: [UInt8](hexString: nodeIDs[node])!, seed: .of([UInt8(node)]), leafCount: leaves, rounds: 10)
        }
        let now = Date(timeIntervalSince1970: Double(start) / 1000)
        let binding = try AddressBinding.sign(address: "127.0.0.1:9402", with: keys[2], at: now)
        func offer(_ space: SpaceProof?, sequence: UInt64 = 1) -> HyperMeshConsensus.Operation {
            var operation = HyperMeshConsensus.Operation(kind: .offerPool, proposer: 2, sequence: sequence, subject: "gpu", amount: 8,
                                                         timestampMilliseconds: Int64(start), space: space)
            operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
            operation.signature = signers[2].sign(operation.digest.bytes, as: 2)
            return operation
        }
        let genesis = Block.genesis.hash
        let good = try SpaceProof.answer(plot: plot(2), height: 0, hash: genesis, count: 8, binding: binding)
        #expect(checker.check(offer(good)) == .accepted)
        #expect(checker.check(offer(nil)) == .refused("space: an offered pool needs a proof of space"))

        var wrongPath = good
        wrongPath.openings[0].path[0] = .zero
        #expect(checker.check(offer(wrongPath)).description.contains("does not reach the root"))
        var moved = good
        moved.binding.address = "10.9.9.9:1"
        #expect(checker.check(offer(moved)) == .refused("space: the address binding's signature does not verify"))
        let othersPlot = try SpaceProof.answer(plot: plot(3), height: 0, hash: genesis, count: 8, binding: binding)
        #expect(checker.check(offer(othersPlot)) == .refused("space: the plot belongs to another node than the address binding"))
        let othersEverything = try SpaceProof.answer(plot: plot(3), height: 0, hash: genesis, count: 8,
                                                     binding: AddressBinding.sign(address: "127.0.0.1:9403", with: keys[3], at: now))
        #expect(checker.check(offer(othersEverything)) == .refused("space: the plot is not the proposer's (node \(nodeIDs[2].prefix(12))…)"))
        var offChain = good
        offChain.challengeHeight = 5
        #expect(checker.check(offer(offChain)).description.contains("is not on this validator's chain"))
        let small = try SpaceProof.answer(plot: plot(2, leaves: 32), height: 0, hash: genesis, count: 8, binding: binding)
        #expect(checker.check(offer(small)) == .refused("space: a plot of 32 leaves × 10 rounds is below the 64 × 10 required"))
        // Answered too long after the challenge block was committed.
        _ = checker.announce(now: start + 1_500)
        #expect(checker.check(offer(good, sequence: 2)).description.contains("space: answered after 1.5 seconds"))
    }

    /// A member node's `offer` in a mesh that demands PoSpace carries the offering node's own plot answer.
    @Test func memberOffersMustProveTheOfferingNodesSpace() throws {
        let validator = P256.Signing.PrivateKey()
        var configuration = ReplicaConfiguration(validators: 1, signer: NodeKeySigner(nodeIDs: [NodeKeySigner.nodeID(of: validator.publicKey)],
                                                                                    privateKey: validator))
        configuration.workBits = 2
        configuration.requirements.time = false
        configuration.requirements.space = true
        configuration.space.minimumLeaves = 64
        configuration.space.minimumRounds = 10
        configuration.space.challenges = 8
        let start: UInt64 = 1_700_000_000_000
        let checker = try Replica(id: 0, configuration: configuration, now: start)
        let member = P256.Signing.PrivateKey()
        let memberID = NodeKeySigner.nodeID(of: member.publicKey)
        let other = P256.Signing.PrivateKey()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("member-space-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func plot(of key: P256.Signing.PrivateKey) throws -> SpacePlot {
            try SpacePlot.create(at: directory.appendingPathComponent(NodeKeySigner.nodeID(of: key.publicKey)).path,
                                 nodeID: [UInt8](hexString: NodeKeySigner.nodeID(of: key.publicKey))!, seed: .of([1]), leafCount: 64, rounds: 10)
        }
        let now = Date(timeIntervalSince1970: Double(start) / 1000)
        func answer(by key: P256.Signing.PrivateKey) throws -> SpaceProof {
            try SpaceProof.answer(plot: plot(of: key), height: 0, hash: Block.genesis.hash, count: 8,
                                  binding: try AddressBinding.sign(address: "127.0.0.1:9402", with: key, at: now))
        }
        func offer(_ space: SpaceProof?) -> HyperMeshConsensus.Operation {
            let terms = OfferTerms(privacy: "public-network", allow: [], total: LedgerAmounts(cpuMillis: 1000),
                                   maximumPerClaim: LedgerAmounts(cpuMillis: 1000))
            var operation = HyperMeshConsensus.Operation(kind: .offer, proposer: -1, sequence: 1, subject: "pool", amount: 0,
                                                         timestampMilliseconds: Int64(start), space: space, node: memberID,
                                                         payload: MeshTerms.offer(terms).bytes)
            operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
            operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: member)
            return operation
        }
        #expect(checker.check(offer(try answer(by: member))) == .accepted)
        #expect(checker.check(offer(nil)) == .refused("space: an offered pool needs a proof of space"))
        #expect(checker.check(offer(try answer(by: other))) == .refused("space: the plot is not the offering node's (node \(memberID.prefix(12))…)"))
    }
}
