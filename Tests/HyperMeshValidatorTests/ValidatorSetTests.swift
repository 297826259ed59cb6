import Foundation
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import HyperMeshValidator

struct ValidatorSetTests {
    static let idA = String(repeating: "a1", count: 32)
    static let idB = String(repeating: "b2", count: 32)

    @Test func theMeshSpecGivesTheValidatorsInOrderAndTheProofsDemanded() throws {
        let spec: JSONValue = .object([
            "validators": .array([
                .object(["id": .string(Self.idA), "address": .string("127.0.0.1:9400")]),
                .object(["id": .string(Self.idB), "address": .string("[::1]:9401")]),
            ]),
            "consensus": .object(["requireSpace": .bool(true), "minimumStake": .integer(3), "spaceMinimumLeaves": .integer(1024)]),
        ])
        let set = try ValidatorSet(meshSpec: spec, meshName: "lab")
        #expect(set.nodeIDs == [Self.idA, Self.idB])
        #expect(set.members[1].address == "[::1]:9401")
        #expect(set.index(of: Self.idB) == 1 && set.index(of: "nobody") == nil)
        #expect(set.requirements.space && set.requirements.minimumStake == 3 && set.requirements.spaceMinimumLeaves == 1024)
        var configuration = ReplicaConfiguration(validators: 2, signer: NodeKeySigner(nodeIDs: set.nodeIDs, privateKey: nil))
        configuration.requirements = set.requirements
        #expect(configuration.space.minimumLeaves == 1024)
    }

    @Test func aMeshWithoutValidatorsOrWithBrokenEntriesIsAnError() {
        #expect(throws: HyperMeshError.invalidArgument()) { try ValidatorSet(meshSpec: .object([:]), meshName: "lab") }
        let broken: JSONValue = .object(["validators": .array([.object(["id": .string(Self.idA)])])])
        do {
            _ = try ValidatorSet(meshSpec: broken, meshName: "lab")
            Issue.record("a validator without an address was accepted")
        } catch {
            #expect("\(error)".contains("spec.validators[0] needs id and address"))
        }
    }

    @Test func messagesNameTheValidatorTheyClaimToComeFrom() {
        let qc = QuorumCertificate.genesis(Block.genesis.hash)
        #expect(ConsensusMessage.newView(view: 3, highQC: qc, committed: 0, from: 2).claimedSender == 2)
        #expect(ConsensusMessage.fetch(.zero, above: 0, from: 1).claimedSender == 1)
        #expect(ConsensusMessage.history(from: 3, first: 0, checkpoints: [.zero], mixes: []).claimedSender == 3)
        #expect(ConsensusMessage.blocks([]).claimedSender == nil)
    }
}

struct TimeReferenceFileTests {
    @Test func theReferenceRoundTripsAndBadFilesSayWhatIsWrong() throws {
        let directory = try TemporaryDirectory(prefix: "time-reference")
        defer { directory.remove() }
        let path = directory.path + "/time-reference"
        #expect(throws: HyperMeshError.notFound()) { try TimeReferenceFile.read(from: path) }
        let reference = TimeReference(validator: 2, tick: 41_000, hash: .of([7]))
        try TimeReferenceFile.write(reference, to: path)
        #expect(try TimeReferenceFile.read(from: path) == reference)
        for bad in ["", "2 41000", "x 41000 00", "2 41000 abcd", "2 -1 " + String(repeating: "0", count: 64)] {
            try bad.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: HyperMeshError.corruptData()) { try TimeReferenceFile.read(from: path) }
        }
        #expect(throws: HyperMeshError.io()) { try TimeReferenceFile.write(reference, to: directory.path + "/missing/dir/file") }
    }

    @Test func theInputQueueWakesItsReaderAndHandsOverEverything() {
        let queue = InputQueue<Int>()
        #expect(queue.takeAll(waitingUpTo: .milliseconds(10)).isEmpty)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { for value in 1...3 { queue.append(value) } }
        var received: [Int] = []
        let deadline = Date().addingTimeInterval(5)
        while received.count < 3 && Date() < deadline { received += queue.takeAll(waitingUpTo: .seconds(1)) }
        #expect(received == [1, 2, 3])
    }
}
