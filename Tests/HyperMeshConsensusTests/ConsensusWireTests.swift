import Crypto
import Testing
@testable import HyperMeshConsensus

/// The binary form validators exchange and the ledger stores: every message round-trips, and every way
/// bytes can be wrong is refused with its own reason and offset.
struct ConsensusWireTests {
    static let signer = SimulatedSigner(participants: 4, seed: 3)

    static func operation(_ sequence: UInt64, subject: String = "pool-a") -> HyperMeshConsensus.Operation {
        var operation = HyperMeshConsensus.Operation(kind: .offerPool, proposer: 2, sequence: sequence, subject: subject,
                                                     amount: -7, timestampMilliseconds: 1_700_000_000_123)
        operation.work = WorkProof(nonce: 0xDEAD_BEEF)
        operation.signature = Self.signer.sign(operation.digest.bytes, as: 2)
        return operation
    }

    static func block() -> Block {
        let qc = QuorumCertificate(block: Block.genesis.hash, height: 0, view: 0,
                                   signatures: [.init(validator: 1, signature: [1, 2, 3]), .init(validator: 3, signature: [])])
        return Block(parent: Block.genesis.hash, height: 1, view: 4, proposer: 1, justify: qc,
                     operations: [Self.operation(1), Self.operation(2, subject: "ünïcode")], workBits: 12)
    }

    static func roundTrip(_ message: ValidatorMessage) throws -> [UInt8] {
        let bytes = ConsensusWire.encode(message)
        let decoded = try ConsensusWire.decodeMessage(bytes)
        #expect(ConsensusWire.encode(decoded) == bytes)
        return bytes
    }

    @Test func everyMessageRoundTrips() throws {
        let block = Self.block()
        let proposal = try Self.roundTrip(.consensus(.proposal(block), epoch: 0))
        guard case .consensus(.proposal(let decoded), epoch: 0) = try ConsensusWire.decodeMessage(proposal) else {
            Issue.record("not a proposal")
            return
        }
        #expect(decoded == block)
        #expect(decoded.hash == block.hash)
        #expect(decoded.operations.map(\.digest) == block.operations.map(\.digest))
        let vote = Vote(validator: 3, block: block.hash, height: 1, view: 4, signature: [9, 9])
        _ = try Self.roundTrip(.consensus(.vote(vote), epoch: 0))
        _ = try Self.roundTrip(.consensus(.newView(view: 9, highQC: block.justify, committed: 5, from: 2), epoch: 0))
        _ = try Self.roundTrip(.consensus(.fetch(block.hash, above: 3, from: 0), epoch: 0))
        _ = try Self.roundTrip(.consensus(.blocks([block, block]), epoch: 0))
        _ = try Self.roundTrip(.operations([Self.operation(5), Self.operation(6)]))
        _ = try Self.roundTrip(.operations([]))
        _ = try Self.roundTrip(.consensus(.history(from: 1, first: 7, checkpoints: [.zero, block.hash, .of([1])],
                                                   mixes: [block.hash, .zero]), epoch: 0))
        _ = try Self.roundTrip(.consensus(.history(from: 0, first: 0, checkpoints: [.zero], mixes: []), epoch: 0))
        var timed = Self.operation(9)
        timed = HyperMeshConsensus.Operation(kind: timed.kind, proposer: 1, sequence: 9, subject: "s", amount: 1, timestampMilliseconds: 5,
                                             time: TimeReference(validator: 2, tick: 3000, hash: block.hash), work: WorkProof(nonce: 4),
                                             signature: [1])
        let timedBytes = try Self.roundTrip(.operations([timed]))
        guard case .operations(let decodedTimed) = try ConsensusWire.decodeMessage(timedBytes) else { return }
        #expect(decodedTimed[0].time == timed.time && decodedTimed[0].digest == timed.digest)
        // An offer with a proof of space.
        let key = P256.Signing.PrivateKey()
        let opening = SpaceOpening(index: 3, leaf: .of([3]), path: [.of([4]), .of([5])])
        let space = SpaceProof(commitment: SpaceCommitment(nodeID: [1, 2], seed: .of([6]), leafCount: 4, rounds: 7, root: .of([8])),
                               challengeHeight: 2, challengeBlock: block.hash, openings: [opening],
                               binding: try AddressBinding.sign(address: "[::1]:9292", with: key))
        let offer = HyperMeshConsensus.Operation(kind: .offerPool, proposer: 0, sequence: 1, subject: "p", amount: 2,
                                                 timestampMilliseconds: 0, space: space)
        let offerBytes = try Self.roundTrip(.operations([offer]))
        guard case .operations(let decodedOffer) = try ConsensusWire.decodeMessage(offerBytes) else { return }
        #expect(decodedOffer[0].space == space && decodedOffer[0].digest == offer.digest)
        var otherSpace = space
        otherSpace.openings[0].index = 2
        #expect(HyperMeshConsensus.Operation(kind: .offerPool, proposer: 0, sequence: 1, subject: "p", amount: 2, timestampMilliseconds: 0,
                                             space: otherSpace).digest != offer.digest)
        #expect(try ConsensusWire.decodeBlock(ConsensusWire.encode(block)) == block)
        #expect(try ConsensusWire.decodeCertificate(ConsensusWire.encode(block.justify)) == block.justify)
    }

    /// The reason for `bytes`, or a failure if they decode.
    static func refusal(_ bytes: [UInt8]) -> ConsensusWireError? {
        do {
            _ = try ConsensusWire.decodeMessage(bytes)
            Issue.record("decoded \(bytes.count) bytes that should be refused")
            return nil
        } catch {
            return error
        }
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(value >> (56 - 8 * UInt64($0)) & 0xFF) } }

    @Test func malformedBytesAreRefusedWithWhatAndWhere() throws {
        let proposal = ConsensusWire.encode(.consensus(.proposal(Self.block()), epoch: 0))
        let vote = ConsensusWire.encode(.consensus(.vote(Vote(validator: 1, block: .zero, height: 1, view: 1, signature: [7])), epoch: 0))
        // Empty, unknown type, trailing bytes.
        #expect(Self.refusal([])?.message == "message type: truncated")
        #expect(Self.refusal([0x7F])?.description == "byte 0: unknown message type 127")
        #expect(Self.refusal(vote + [0])?.message == "message: 1 bytes left over")
        // Truncated anywhere: every prefix of a proposal is refused, none crashes.
        for length in 0..<proposal.count {
            let message = Self.refusal(Array(proposal.prefix(length)))?.message ?? ""
            #expect(message.contains("truncated") || message.contains("cannot fit"), "\(length): \(message)")
        }
        // A signature longer than allowed, or longer than the bytes left.
        let signatureAt = 1 + 8 + 32 + 8 + 8
        var long = vote
        long.replaceSubrange(signatureAt..<(signatureAt + 8), with: Self.bigEndian(513))
        #expect(Self.refusal(long)?.description == "byte \(signatureAt): vote signature: 513 bytes, at most 512 allowed")
        var short = vote
        short.replaceSubrange(signatureAt..<(signatureAt + 8), with: Self.bigEndian(400))
        #expect(Self.refusal(short)?.message == "vote signature: truncated (400 bytes announced, 1 left)")
        // Counts: more than the limit, or more than the bytes could hold (refused before allocating).
        #expect(Self.refusal([5] + Self.bigEndian(65))?.message == "blocks: 65 items, at most 64 allowed")
        #expect(Self.refusal([5] + Self.bigEndian(2) + [UInt8](repeating: 0, count: 100))?.message
            == "blocks: 2 items cannot fit in 100 bytes")
        #expect(Self.refusal([6] + Self.bigEndian(UInt64.max))?.message == "operations: 18446744073709551615 items, at most 10000 allowed")
        // An operation of unknown kind, a subject that is not UTF-8 or too long.
        var operations = ConsensusWire.encode(.operations([Self.operation(1)]))
        let kindAt = 1 + 8
        operations[kindAt] = 99
        #expect(Self.refusal(operations)?.description == "byte \(kindAt): unknown operation kind 99")
        let subjectAt = kindAt + 1 + 8 + 8
        var badText = ConsensusWire.encode(.operations([Self.operation(1, subject: "ab")]))
        badText[subjectAt + 8] = 0xFF
        #expect(Self.refusal(badText)?.message == "operation subject: not UTF-8")
        let tooLong = ConsensusWire.encode(.operations([Self.operation(1, subject: String(repeating: "x", count: 254))]))
        #expect(Self.refusal(tooLong)?.message == "operation subject: 254 bytes, at most 253 allowed")
        // Work difficulty outside 0…64 in a block.
        let workAt = 1 + 32 + 8 * 3 + ConsensusWire.encode(Self.block().justify).count
        var work = proposal
        work.replaceSubrange(workAt..<(workAt + 8), with: Self.bigEndian(65))
        #expect(Self.refusal(work)?.description == "byte \(workAt): block work bits 65 outside 0…64")
        // Too many signatures in a certificate.
        var certificate = ConsensusWire.encode(.consensus(.newView(view: 1, highQC: Self.block().justify, committed: 0, from: 0), epoch: 0))
        let signaturesAt = 1 + 8 + 32 + 16
        certificate.replaceSubrange(signaturesAt..<(signaturesAt + 8), with: Self.bigEndian(1025))
        #expect(Self.refusal(certificate)?.message == "certificate signatures: 1025 items, at most 1024 allowed")
        // History: no checkpoints, a missing mix, a bad time-reference marker.
        #expect(Self.refusal([7] + Self.bigEndian(0) + Self.bigEndian(0) + Self.bigEndian(0))?.message == "history: no checkpoints")
        let history = ConsensusWire.encode(.consensus(.history(from: 0, first: 0, checkpoints: [.zero, .zero], mixes: [.zero]), epoch: 0))
        #expect(Self.refusal(Array(history.dropLast(32)))?.message == "history mix: truncated (32 bytes needed, 0 left)")
        var marker = ConsensusWire.encode(.operations([Self.operation(1)]))
        let markerAt = subjectAt + 8 + Self.operation(1).subject.utf8.count + 16
        marker[markerAt] = 2
        #expect(Self.refusal(marker)?.description == "byte \(markerAt): operation time reference marker 2 is neither 0 nor 1")
        // Standalone blocks and certificates refuse trailing bytes too.
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeBlock(ConsensusWire.encode(Self.block()) + [1]) }
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeCertificate([1, 2, 3]) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var random = SimulationRandom(seed: 42)
        let proposal = ConsensusWire.encode(.consensus(.proposal(Self.block()), epoch: 0))
        var refused = 0
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if !bytes.isEmpty { bytes[0] = UInt8(1 + random.next() % 6) }
            } else {
                bytes = proposal
                for _ in 0..<(1 + random.next() % 4) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            if (try? ConsensusWire.decodeMessage(bytes)) == nil { refused += 1 }
        }
        #expect(refused > 1000)
    }
}
