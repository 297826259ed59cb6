import Crypto
import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import HyperMeshConsensus

/// A node that is not a validator follows the committed chain from what validators send it, checking every
/// certificate itself: it ends up with the validators' ledger, and nothing forged gets in.
struct LedgerFollowerTests {
    /// Four validators with node keys committing member nodes' mesh operations; returns the cluster and validator 0's store.
    static func cluster(operations count: Int) throws -> (LocalCluster, LedgerStore, [String], P256.Signing.PrivateKey) {
        let store = try LedgerStore()
        let (cluster, nodeIDs) = try LocalCluster.withNodeKeys(4, stores: [store, nil, nil, nil]) { configuration in
            configuration.workBits = 2
            configuration.requirements.time = false
            configuration.maximumBatch = 8
        }
        let member = P256.Signing.PrivateKey()
        let memberID = NodeKeySigner.nodeID(of: member.publicKey)
        var now: UInt64 = 0
        func settle() {
            for _ in 0..<100 {
                now += 50
                cluster.deliverAll(now: now)
                cluster.fireTimers(now: now)
            }
        }
        let offer = OfferTerms(privacy: "public-network", allow: [], total: LedgerAmounts(cpuMillis: 1_000_000), maximumPerClaim: LedgerAmounts(cpuMillis: 1_000_000))
        for sequence in 0..<UInt64(count) {
            var operation = HyperMeshConsensus.Operation(kind: .offer, proposer: -1, sequence: sequence, subject: "pool-\(sequence)", amount: 0,
                                                         timestampMilliseconds: 0, node: memberID, payload: MeshTerms.offer(offer).bytes)
            operation.work = WorkProof.solve(digest: operation.digest, bits: 2)
            operation.signature = NodeKeySigner.sign(operation.digest.bytes, with: member)
            cluster.submit(operation, now: now)
        }
        // A member's operation signed by another key is refused before it is ordered.
        var forged = HyperMeshConsensus.Operation(kind: .withdraw, proposer: -1, sequence: 99, subject: "pool-0", amount: 0,
                                                  timestampMilliseconds: 0, node: memberID)
        forged.work = WorkProof.solve(digest: forged.digest, bits: 2)
        forged.signature = NodeKeySigner.sign(forged.digest.bytes, with: P256.Signing.PrivateKey())
        #expect(cluster.replicas[0].check(forged) == .refused("the signature is not node \(memberID.prefix(12))'s"))
        cluster.submit(forged, now: now)
        settle()
        return (cluster, store, nodeIDs, member)
    }

    static func sync(_ cluster: LocalCluster, _ store: LedgerStore, above height: UInt64, limit: Int = LedgerSync.maximumBlocks) throws -> LedgerSync {
        LedgerSync(blocks: try store.blocks(above: height, limit: limit), proof: cluster.replicas[0].commitProof, time: nil)
    }

    @Test func aFollowerGetsTheValidatorsLedgerInPagesAndKeepsIt() throws {
        let (cluster, store, nodeIDs, _) = try Self.cluster(operations: 40)
        let validator = cluster.replicas[0]
        #expect(validator.ledger.mesh.offers.count == 40)
        let committedHeight = validator.committedHeight
        #expect(committedHeight >= 5)

        let directory = try TemporaryDirectory(prefix: "follower")
        defer { directory.remove() }
        let follower = try LedgerFollower(validatorNodeIDs: nodeIDs, minimumStake: 0, store: try LedgerStore(path: directory.path + "/ledger.sqlite"))
        // A first page without the committed head: kept, not applied until the proof reaches it; the next
        // request asks above what is held.
        #expect(try follower.accept(try Self.sync(cluster, store, above: 0, limit: 2)) == 0)
        #expect(follower.height == 0 && follower.heldHeight == 2)
        let committed = try follower.accept(try Self.sync(cluster, store, above: follower.heldHeight))
        #expect(UInt64(committed) == committedHeight && follower.height == committedHeight)
        #expect(follower.ledger.mesh == validator.ledger.mesh)
        // The same answer again changes nothing.
        #expect(try follower.accept(try Self.sync(cluster, store, above: 0)) == 0)
        #expect(try follower.accept(LedgerSync(blocks: [], proof: nil, time: nil)) == 0)

        // Restarted from its file, it has the same ledger without asking anyone.
        let restarted = try LedgerFollower(validatorNodeIDs: nodeIDs, minimumStake: 0,
                                           store: try LedgerStore(path: directory.path + "/ledger.sqlite"))
        #expect(restarted.height == committedHeight && restarted.ledger.mesh == validator.ledger.mesh)

        // On the wire and back.
        let sync = try Self.sync(cluster, store, above: 0)
        let decoded = try LedgerSync(decoding: sync.bytes)
        #expect(decoded.blocks.map(\.hash) == sync.blocks.map(\.hash) && decoded.proof?.certificate == sync.proof?.certificate)
        #expect(LedgerSync.height(ofRequest: LedgerSync.request(above: 42)) == 42)
        #expect(LedgerSync.height(ofRequest: Array("{\"operation\":\"crl\"}".utf8)) == nil)
        #expect(throws: ConsensusWireError.self) { try LedgerSync(decoding: Array(sync.bytes.dropLast())) }
        #expect(throws: ConsensusWireError.self) { try LedgerSync(decoding: sync.bytes + [0]) }
        var badMarker = LedgerSync(blocks: [], proof: nil, time: nil).bytes
        badMarker[8] = 3
        #expect(throws: ConsensusWireError(offset: 8, message: "sync proof marker 3 is neither 0 nor 1")) { try LedgerSync(decoding: badMarker) }
    }

    @Test func forgedBlocksAndProofsAreRefusedAndNothingOfThemKept() throws {
        let (cluster, store, nodeIDs, _) = try Self.cluster(operations: 24)
        let honest = try Self.sync(cluster, store, above: 0)
        let proof = try #require(honest.proof)
        func fresh() throws -> LedgerFollower { try LedgerFollower(validatorNodeIDs: nodeIDs, minimumStake: 0, store: nil) }

        // A block whose certificate lacks a quorum of valid signatures.
        var blocks = honest.blocks
        let second = blocks[1]
        var weak = second.justify
        weak.signatures = Array(weak.signatures.prefix(1))
        blocks[1] = Block(parent: second.parent, height: second.height, view: second.view, proposer: second.proposer, justify: weak,
                          operations: second.operations, workBits: second.workBits)
        let follower = try fresh()
        #expect(throws: LedgerFollowerError.self) { try follower.accept(LedgerSync(blocks: blocks, proof: proof, time: nil)) }
        #expect(follower.height == 0 && follower.ledger.mesh.offers.isEmpty)

        // A block that does not extend the one before (a validator's own invention).
        let invented = Block(parent: .zero, height: 1, view: 1, proposer: 0, justify: .genesis(Block.genesis.hash), operations: [], workBits: 2)
        #expect(throws: LedgerFollowerError.self) { try fresh().accept(LedgerSync(blocks: [invented], proof: nil, time: nil)) }

        // A proof whose certificate is not a quorum's, or for another block.
        var forgedCertificate = proof
        forgedCertificate.certificate.signatures = forgedCertificate.certificate.signatures.map {
            QuorumCertificate.Signed(validator: $0.validator, signature: [UInt8](repeating: 1, count: $0.signature.count))
        }
        #expect(throws: LedgerFollowerError.self) { try fresh().accept(LedgerSync(blocks: honest.blocks, proof: forgedCertificate, time: nil)) }
        var swapped = proof
        swapped.top = proof.middle
        #expect(throws: LedgerFollowerError.self) { try fresh().accept(LedgerSync(blocks: honest.blocks, proof: swapped, time: nil)) }

        // The honest answer still works after all that.
        let recovered = try fresh()
        #expect(try recovered.accept(honest) > 0 && recovered.ledger.mesh == cluster.replicas[0].ledger.mesh)
    }
}
