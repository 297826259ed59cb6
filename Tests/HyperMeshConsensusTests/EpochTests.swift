import Crypto
import Foundation
import HyperMeshCore
import Testing
@testable import HyperMeshConsensus

/// Validator epochs with real node keys: a committed `reconfigure` ends an epoch, the validators it names build
/// on that block, a validator restarted from its file is back in the right epoch, followers cross epochs only
/// with the ending epoch's proof, and every refusal says why.
struct EpochTests {
    static func member(_ key: P256.Signing.PrivateKey) -> ValidatorMember {
        ValidatorMember(nodeID: NodeKeySigner.nodeID(of: key.publicKey), address: "")
    }

    static func configuration(genesis: [ValidatorMember], key: P256.Signing.PrivateKey) -> ReplicaConfiguration {
        var configuration = ReplicaConfiguration(validators: genesis.count, signer: NodeKeySigner(nodeIDs: genesis.map(\.nodeID), privateKey: key))
        configuration.members = genesis
        configuration.workBits = 2
        configuration.requirements.time = false
        return configuration
    }

    /// A validator's reconfigure operation: signed by its node key as participant `proposer` of the current epoch.
    static func reconfigure(to members: [ValidatorMember], epoch: UInt64, proposer: Int, key: P256.Signing.PrivateKey,
                            sequence: UInt64) -> HyperMeshConsensus.Operation {
        var operation = HyperMeshConsensus.Operation(kind: .reconfigure, proposer: proposer, sequence: sequence, subject: "epoch-\(epoch)",
                                                     amount: 0, timestampMilliseconds: 0,
                                                     payload: ValidatorChange(epoch: epoch, members: members).bytes)
        operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
        operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: key)
        return operation
    }

    static func offer(_ sequence: UInt64, by member: P256.Signing.PrivateKey) -> HyperMeshConsensus.Operation {
        let terms = OfferTerms(privacy: "public-network", allow: [], total: LedgerAmounts(cpuMillis: 1000), maximumPerClaim: LedgerAmounts(cpuMillis: 1000))
        var operation = HyperMeshConsensus.Operation(kind: .offer, proposer: -1, sequence: sequence, subject: "pool-\(sequence)", amount: 0,
                                                     timestampMilliseconds: 0, node: NodeKeySigner.nodeID(of: member.publicKey),
                                                     payload: MeshTerms.offer(terms).bytes)
        operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
        operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: member)
        return operation
    }

    /// One validator (A) grows the set to four (A, B, C, D) with one operation; the three join from A's chain;
    /// offers commit before and after. Returns the cluster, A's store, the keys and the member key.
    static func grownCluster() throws -> (LocalCluster, LedgerStore, [P256.Signing.PrivateKey], P256.Signing.PrivateKey, () -> Void) {
        let keys = (0..<4).map { _ in P256.Signing.PrivateKey() }
        let members = keys.map(Self.member)
        let storeA = try LedgerStore()
        let cluster = try LocalCluster(configurations: [Self.configuration(genesis: [members[0]], key: keys[0])], stores: [storeA])
        let provider = P256.Signing.PrivateKey()
        var now: UInt64 = 0
        func settle() {
            for _ in 0..<60 {
                now += 50
                cluster.deliverAll(now: now)
                cluster.fireTimers(now: now)
            }
        }
        for sequence in 0..<3 as Range<UInt64> { cluster.submit(Self.offer(sequence, by: provider), now: now) }
        settle()
        #expect(cluster.replicas[0].ledger.mesh.offers.count == 3)
        cluster.submit(Self.reconfigure(to: members, epoch: 1, proposer: 0, key: keys[0], sequence: 1), now: now)
        settle()
        #expect(cluster.replicas[0].epoch == 1 && cluster.replicas[0].configuration.validators == 4)
        for key in keys.dropFirst() {
            let index = try cluster.join(identity: Self.member(key).nodeID, configuration: Self.configuration(genesis: [members[0]], key: key),
                                         store: try LedgerStore(), from: 0, now: now)
            #expect(cluster.replicas[index].epoch == 1 && cluster.replicas[index].isMember)
        }
        for sequence in 3..<9 as Range<UInt64> { cluster.submit(Self.offer(sequence, by: provider), now: now) }
        settle()
        return (cluster, storeA, keys, provider, settle)
    }

    @Test func oneValidatorGrowsToFourAndTheFourCommitTogether() throws {
        let (cluster, storeA, keys, _, _) = try Self.grownCluster()
        for replica in cluster.replicas {
            #expect(replica.ledger.mesh.offers.count == 9, "validator \(replica.identity.prefix(8)) holds \(replica.ledger.mesh.offers.count) offers")
            // One chain: each validator's committed blocks a prefix of the longest (the last commit may still be on its way).
            let longest = cluster.replicas.map(\.committed).max { $0.count < $1.count }!
            #expect(replica.committed.map(\.hash) == Array(longest.prefix(replica.committed.count)).map(\.hash))
            #expect(replica.committedHeight > replica.ledger.validators!.baseHeight)
        }
        // Votes of epoch 1 name its base: the new epoch's certificates are not valid as epoch 0's.
        let base = cluster.replicas[0].committed[Int(cluster.replicas[0].ledger.validators!.baseHeight) - 1]
        let later = try #require(cluster.replicas[0].committed.last)
        #expect(later.height > base.height + 1)
        #expect(later.justify.isValid(quorum: 3, validators: 4, signer: NodeKeySigner(nodeIDs: keys.map { Self.member($0).nodeID }, privateKey: nil),
                                      genesis: base.hash, genesisHeight: base.height))
        #expect(!later.justify.isValid(quorum: 3, validators: 4, signer: NodeKeySigner(nodeIDs: keys.map { Self.member($0).nodeID }, privateKey: nil),
                                       genesis: Block.genesis.hash))
        // The proof that epoch 0 ended is kept, and a validator restarted from its file is back in epoch 1.
        #expect(try storeA.epochProofs().map(\.epoch) == [0])
        try cluster.restart(0, now: 100_000)
        #expect(cluster.replicas[0].epoch == 1 && cluster.replicas[0].isMember && cluster.replicas[0].ledger.mesh.offers.count == 9)
    }

    @Test func aFollowerCrossesTheEpochOnlyWithItsProof() throws {
        let (cluster, storeA, keys, _, _) = try Self.grownCluster()
        let genesis = [Self.member(keys[0])]
        let validator = cluster.replicas[0]
        let blocks = try storeA.blocks(above: 0, limit: 256)
        let proofs = try storeA.epochProofs()
        let honest = LedgerSync(blocks: blocks, proof: validator.commitProof, time: nil, epochProofs: proofs)
        let follower = try LedgerFollower(genesisValidators: genesis, minimumStake: 0, store: nil)
        #expect(try follower.accept(try LedgerSync(decoding: honest.bytes)) > 0)
        #expect(follower.ledger.mesh == validator.ledger.mesh && follower.height == validator.committedHeight)
        #expect(follower.currentValidators.members.map(\.nodeID) == keys.map { Self.member($0).nodeID })

        // Without the proof, the follower stops at the end of epoch 0 and commits nothing of epoch 1.
        let stopped = try LedgerFollower(genesisValidators: genesis, minimumStake: 0, store: nil)
        _ = try stopped.accept(LedgerSync(blocks: blocks, proof: validator.commitProof, time: nil))
        let end = validator.ledger.validators!.baseHeight
        #expect(stopped.heldHeight == end && stopped.height <= end)

        // A proof whose certificate is not epoch 0's quorum, or a proof for another block, is refused.
        var forged = try #require(proofs.first)
        forged.certificate.signatures = []
        #expect(throws: LedgerFollowerError.self) {
            try LedgerFollower(genesisValidators: genesis, minimumStake: 0, store: nil)
                .accept(LedgerSync(blocks: blocks, proof: validator.commitProof, time: nil, epochProofs: [forged]))
        }
        var shifted = try #require(proofs.first)
        shifted.blocks.removeFirst()
        #expect(throws: LedgerFollowerError.self) {
            try LedgerFollower(genesisValidators: genesis, minimumStake: 0, store: nil)
                .accept(LedgerSync(blocks: blocks, proof: validator.commitProof, time: nil, epochProofs: [shifted]))
        }
        // A validator set that epoch 0 never named: a block after the end claiming the base with its own signers.
        let other = (0..<4).map { _ in P256.Signing.PrivateKey() }
        let otherGenesis = [Self.member(other[0])]
        #expect(throws: LedgerFollowerError.self) {
            try LedgerFollower(genesisValidators: otherGenesis, minimumStake: 0, store: nil).accept(honest)
        }
    }

    @Test func reconfigurationsAreRefusedWithTheirReasons() throws {
        let keys = (0..<2).map { _ in P256.Signing.PrivateKey() }
        let members = keys.map(Self.member)
        var ledger = LedgerState(genesisValidators: [members[0]])
        func reason(_ change: ValidatorChange) -> String? {
            var operation = HyperMeshConsensus.Operation(kind: .reconfigure, proposer: 0, sequence: UInt64.random(in: 1...UInt64.max),
                                                         subject: "epoch", amount: 0, timestampMilliseconds: 0, payload: change.bytes)
            operation.signature = []
            ledger.apply(operation, minimumStake: 0, height: 7)
            return ledger.rejections[operation.digest]
        }
        #expect(reason(ValidatorChange(epoch: 2, members: members)) == "reconfigure names epoch 2, but the next epoch is 1")
        #expect(reason(ValidatorChange(epoch: 1, members: [])) == "reconfigure leaves no validator")
        #expect(reason(ValidatorChange(epoch: 1, members: [members[0], members[0]])) == "reconfigure lists a validator twice")
        #expect(reason(ValidatorChange(epoch: 1, members: [ValidatorMember(nodeID: "", address: "x:1")])) == "reconfigure lists a validator without a node id (x:1)")
        #expect(reason(ValidatorChange(epoch: 1, members: members)) == nil)
        #expect(ledger.validators == ValidatorEpoch(number: 1, members: members, baseHeight: 7))
        #expect(reason(ValidatorChange(epoch: 1, members: members)) == "reconfigure names epoch 1, but the next epoch is 2")
        var withoutEpochs = LedgerState()
        let operation = HyperMeshConsensus.Operation(kind: .reconfigure, proposer: 0, sequence: 1, subject: "epoch", amount: 0,
                                                     timestampMilliseconds: 0, payload: ValidatorChange(epoch: 1, members: members).bytes)
        withoutEpochs.apply(operation, minimumStake: 0)
        #expect(withoutEpochs.rejections[operation.digest] == "this ledger has no validator epochs to change")

        // Only a validator of the current epoch may propose it.
        let replica = try Replica(id: 0, configuration: Self.configuration(genesis: [members[0]], key: keys[0]))
        let byOutsider = Self.reconfigure(to: members, epoch: 1, proposer: 0, key: keys[1], sequence: 5)
        #expect(replica.check(byOutsider) == .refused("reconfigure: only a validator changes the validators, and the signature is not validator 0's"))
        #expect(replica.check(Self.reconfigure(to: members, epoch: 1, proposer: 0, key: keys[0], sequence: 6)) == .accepted)
    }

    @Test func validatorChangesAndEpochMessagesRoundTripAndBadBytesSayWhere() throws {
        let change = ValidatorChange(epoch: 3, members: [ValidatorMember(nodeID: String(repeating: "a", count: 64), address: "10.0.0.1:9292")])
        #expect(try ValidatorChange(decoding: change.bytes) == change)
        #expect(throws: ConsensusWireError.self) { try ValidatorChange(decoding: Array(change.bytes.dropLast())) }
        #expect(throws: ConsensusWireError.self) { try ValidatorChange(decoding: change.bytes + [0]) }
        var wrongTag = change.bytes
        wrongTag[8] = UInt8(ascii: "x")
        #expect(throws: ConsensusWireError.self) { try ValidatorChange(decoding: wrongTag) }

        let message = ValidatorMessage.consensus(.newView(view: 4, highQC: .genesis(Block.genesis.hash), committed: 2, from: 1), epoch: 5)
        let bytes = ConsensusWire.encode(message)
        guard case .consensus(.newView(4, _, 2, 1), epoch: 5) = try ConsensusWire.decodeMessage(bytes) else {
            Issue.record("not the epoch-5 new-view")
            return
        }
        // An epoch tag naming epoch 0, or wrapping another epoch tag, is refused.
        var zero = bytes
        for index in 1...8 { zero[index] = 0 }
        #expect(throws: ConsensusWireError(offset: 1, message: "message epoch 0 is sent without an epoch tag")) { try ConsensusWire.decodeMessage(zero) }
        let nested = Array(bytes.prefix(9)) + bytes
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeMessage(nested) }
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeMessage(Array(bytes.prefix(5))) }
        // A reconfigure operation naming a node, or with a payload that is not a validator change.
        #expect(throws: ConsensusWireError.self) {
            try ConsensusWire.decodeMessage(ConsensusWire.encode(.operations([HyperMeshConsensus.Operation(
                kind: .reconfigure, proposer: 0, sequence: 1, subject: "e", amount: 0, timestampMilliseconds: 0, payload: [1, 2, 3])])))
        }
    }

    @Test func epochProofsRoundTripAndTruncationIsRefused() throws {
        let (_, storeA, _, _, _) = try Self.grownCluster()
        let proof = try #require(try storeA.epochProofs().first)
        let bytes = ConsensusWire.encode(proof)
        #expect(try ConsensusWire.decodeEpochProof(bytes) == proof)
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeEpochProof(Array(bytes.dropLast())) }
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeEpochProof(bytes + [0]) }
    }
}
