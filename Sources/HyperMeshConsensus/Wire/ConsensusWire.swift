/// The binary form of consensus values, for the network (`stoq/1` message frames) and the ledger store.
///
/// Fields are written by ``CanonicalEncoder`` (big-endian integers, length-prefixed strings and byte
/// strings, raw 32-byte hashes); a message is one tag byte and its fields. Decoding checks every length
/// against what is left and against the limits below, and refuses trailing bytes.
public enum ConsensusWire {
    /// Longest signature accepted (P-256 key + signature is 128 bytes; HMAC 32; Ed25519 64).
    static let maximumSignatureBytes = 512
    static let maximumSubjectBytes = 253
    static let maximumOperationsPerBlock = 10_000
    static let maximumSignaturesPerCertificate = 1024
    static let maximumBlocksPerMessage = 64
    static let maximumHistoryCheckpoints = 4096
    /// Smallest encodings, to refuse counts the bytes cannot hold.
    static let minimumOperationBytes = 1 + 8 * 9 + 2
    static let maximumNodeIDBytes = 128
    static let maximumPayloadBytes = 16_384
    static let minimumCertificateBytes = 32 + 8 * 3
    static let minimumBlockBytes = 32 + 8 * 3 + minimumCertificateBytes + 8 * 2

    private enum Tag: UInt8 {
        case proposal = 1
        case vote = 2
        case newView = 3
        case fetch = 4
        case blocks = 5
        case operations = 6
        case history = 7
        /// A consensus message of a later epoch: the epoch number, then the message.
        case epoch = 8
    }

    // MARK: - Messages

    public static func encode(_ message: ValidatorMessage) -> [UInt8] {
        var encoder = CanonicalEncoder()
        if case .consensus(let inner, let epoch) = message, epoch > 0 {
            encoder.appendByte(Tag.epoch.rawValue)
            encoder.append(epoch)
            return encoder.bytes + self.encode(.consensus(inner, epoch: 0))
        }
        switch message {
        case .consensus(.proposal(let block), _):
            encoder.appendByte(Tag.proposal.rawValue)
            self.write(block, to: &encoder)
        case .consensus(.vote(let vote), _):
            encoder.appendByte(Tag.vote.rawValue)
            encoder.append(vote.validator)
            encoder.append(vote.block)
            encoder.append(vote.height)
            encoder.append(vote.view)
            encoder.append(vote.signature)
        case .consensus(.newView(let view, let qc, let committed, let from), _):
            encoder.appendByte(Tag.newView.rawValue)
            encoder.append(view)
            self.write(qc, to: &encoder)
            encoder.append(committed)
            encoder.append(from)
        case .consensus(.fetch(let hash, let above, let from), _):
            encoder.appendByte(Tag.fetch.rawValue)
            encoder.append(hash)
            encoder.append(above)
            encoder.append(from)
        case .consensus(.blocks(let blocks), _):
            encoder.appendByte(Tag.blocks.rawValue)
            encoder.append(blocks.count)
            for block in blocks { self.write(block, to: &encoder) }
        case .consensus(.history(let from, let first, let checkpoints, let mixes), _):
            encoder.appendByte(Tag.history.rawValue)
            encoder.append(from)
            encoder.append(first)
            encoder.append(checkpoints.count)
            for checkpoint in checkpoints { encoder.append(checkpoint) }
            for mix in mixes { encoder.append(mix) }
        case .operations(let operations):
            encoder.appendByte(Tag.operations.rawValue)
            encoder.append(operations.count)
            for operation in operations { self.write(operation, to: &encoder) }
        }
        return encoder.bytes
    }

    public static func decodeMessage(_ bytes: [UInt8]) throws(ConsensusWireError) -> ValidatorMessage {
        var decoder = CanonicalDecoder(bytes)
        let message: ValidatorMessage
        let tagByte = try decoder.uint8("message type")
        if Tag(rawValue: tagByte) == .epoch {
            let epoch = try decoder.uint64("message epoch")
            guard epoch > 0 else { throw ConsensusWireError(offset: 1, message: "message epoch 0 is sent without an epoch tag") }
            let inner: ValidatorMessage
            do {
                inner = try self.decodeMessage(Array(bytes.dropFirst(9)))
            } catch {
                throw ConsensusWireError(offset: 9 + error.offset, message: error.message)
            }
            guard case .consensus(let consensus, 0) = inner else {
                throw ConsensusWireError(offset: 9, message: "an epoch tag before something other than a consensus message")
            }
            return .consensus(consensus, epoch: epoch)
        }
        switch Tag(rawValue: tagByte) {
        case .proposal:
            message = .consensus(.proposal(try self.readBlock(&decoder)), epoch: 0)
        case .vote:
            let validator = try decoder.int("vote validator")
            let block = try decoder.hash("vote block")
            let height = try decoder.uint64("vote height")
            let view = try decoder.uint64("vote view")
            let signature = try decoder.data("vote signature", limit: self.maximumSignatureBytes)
            message = .consensus(.vote(Vote(validator: validator, block: block, height: height, view: view, signature: signature)), epoch: 0)
        case .newView:
            let view = try decoder.uint64("new-view view")
            let qc = try self.readCertificate(&decoder)
            let committed = try decoder.uint64("new-view committed height")
            let from = try decoder.int("new-view sender")
            message = .consensus(.newView(view: view, highQC: qc, committed: committed, from: from), epoch: 0)
        case .fetch:
            let hash = try decoder.hash("fetch block")
            let above = try decoder.uint64("fetch height")
            let from = try decoder.int("fetch sender")
            message = .consensus(.fetch(hash, above: above, from: from), epoch: 0)
        case .blocks:
            let count = try decoder.count("blocks", limit: self.maximumBlocksPerMessage, minimumItemBytes: self.minimumBlockBytes)
            var blocks: [Block] = []
            for _ in 0..<count { blocks.append(try self.readBlock(&decoder)) }
            message = .consensus(.blocks(blocks), epoch: 0)
        case .history:
            let from = try decoder.int("history sender")
            let first = try decoder.uint64("history first checkpoint")
            let count = try decoder.count("history checkpoints", limit: self.maximumHistoryCheckpoints, minimumItemBytes: 32)
            guard count > 0 else { throw decoder.failure("history: no checkpoints") }
            var checkpoints: [ConsensusHash] = []
            for _ in 0..<count { checkpoints.append(try decoder.hash("history checkpoint")) }
            var mixes: [ConsensusHash] = []
            for _ in 1..<count { mixes.append(try decoder.hash("history mix")) }
            message = .consensus(.history(from: from, first: first, checkpoints: checkpoints, mixes: mixes), epoch: 0)
        case .operations:
            let count = try decoder.count("operations", limit: self.maximumOperationsPerBlock,
                                          minimumItemBytes: self.minimumOperationBytes)
            var operations: [Operation] = []
            for _ in 0..<count { operations.append(try self.readOperation(&decoder)) }
            message = .operations(operations)
        case .epoch, nil:
            throw ConsensusWireError(offset: 0, message: "unknown message type \(tagByte)")
        }
        try decoder.finish("message")
        return message
    }

    // MARK: - Epoch proofs

    public static func encode(_ proof: EpochProof) -> [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append(proof.epoch)
        encoder.append(proof.endHeight)
        encoder.append(proof.blocks.count)
        for block in proof.blocks { self.write(block, to: &encoder) }
        self.write(proof.certificate, to: &encoder)
        return encoder.bytes
    }

    public static func decodeEpochProof(_ bytes: [UInt8]) throws(ConsensusWireError) -> EpochProof {
        var decoder = CanonicalDecoder(bytes)
        let epoch = try decoder.uint64("epoch proof epoch")
        let endHeight = try decoder.uint64("epoch proof end height")
        let count = try decoder.count("epoch proof blocks", limit: EpochProof.maximumBlocks, minimumItemBytes: self.minimumBlockBytes)
        var blocks: [Block] = []
        for _ in 0..<count { blocks.append(try self.readBlock(&decoder)) }
        let certificate = try self.readCertificate(&decoder)
        try decoder.finish("epoch proof")
        return EpochProof(epoch: epoch, endHeight: endHeight, blocks: blocks, certificate: certificate)
    }

    // MARK: - Blocks

    public static func encode(_ block: Block) -> [UInt8] {
        var encoder = CanonicalEncoder()
        self.write(block, to: &encoder)
        return encoder.bytes
    }

    /// A block; its hash is recomputed from the fields, so a block cannot claim another's id.
    public static func decodeBlock(_ bytes: [UInt8]) throws(ConsensusWireError) -> Block {
        var decoder = CanonicalDecoder(bytes)
        let block = try self.readBlock(&decoder)
        try decoder.finish("block")
        return block
    }

    public static func encode(_ qc: QuorumCertificate) -> [UInt8] {
        var encoder = CanonicalEncoder()
        self.write(qc, to: &encoder)
        return encoder.bytes
    }

    public static func decodeCertificate(_ bytes: [UInt8]) throws(ConsensusWireError) -> QuorumCertificate {
        var decoder = CanonicalDecoder(bytes)
        let qc = try self.readCertificate(&decoder)
        try decoder.finish("certificate")
        return qc
    }

    private static func write(_ block: Block, to encoder: inout CanonicalEncoder) {
        encoder.append(block.parent)
        encoder.append(block.height)
        encoder.append(block.view)
        encoder.append(block.proposer)
        self.write(block.justify, to: &encoder)
        encoder.append(block.workBits)
        encoder.append(block.operations.count)
        for operation in block.operations { self.write(operation, to: &encoder) }
    }

    private static func readBlock(_ decoder: inout CanonicalDecoder) throws(ConsensusWireError) -> Block {
        let parent = try decoder.hash("block parent")
        let height = try decoder.uint64("block height")
        let view = try decoder.uint64("block view")
        let proposer = try decoder.int("block proposer")
        let justify = try self.readCertificate(&decoder)
        let workBitsOffset = decoder.offset
        let workBits = try decoder.int("block work bits")
        guard (0...64).contains(workBits) else {
            throw ConsensusWireError(offset: workBitsOffset, message: "block work bits \(workBits) outside 0…64")
        }
        let count = try decoder.count("block operations", limit: self.maximumOperationsPerBlock,
                                      minimumItemBytes: self.minimumOperationBytes)
        var operations: [Operation] = []
        operations.reserveCapacity(count)
        for _ in 0..<count { operations.append(try self.readOperation(&decoder)) }
        return Block(parent: parent, height: height, view: view, proposer: proposer, justify: justify, operations: operations,
                     workBits: workBits)
    }

    private static func write(_ qc: QuorumCertificate, to encoder: inout CanonicalEncoder) {
        encoder.append(qc.block)
        encoder.append(qc.height)
        encoder.append(qc.view)
        encoder.append(qc.signatures.count)
        for signed in qc.signatures {
            encoder.append(signed.validator)
            encoder.append(signed.signature)
        }
    }

    private static func readCertificate(_ decoder: inout CanonicalDecoder) throws(ConsensusWireError) -> QuorumCertificate {
        let block = try decoder.hash("certificate block")
        let height = try decoder.uint64("certificate height")
        let view = try decoder.uint64("certificate view")
        let count = try decoder.count("certificate signatures", limit: self.maximumSignaturesPerCertificate, minimumItemBytes: 16)
        var signatures: [QuorumCertificate.Signed] = []
        for _ in 0..<count {
            let validator = try decoder.int("certificate signer")
            let signature = try decoder.data("certificate signature", limit: self.maximumSignatureBytes)
            signatures.append(.init(validator: validator, signature: signature))
        }
        return QuorumCertificate(block: block, height: height, view: view, signatures: signatures)
    }

    // MARK: - Operations

    private static func write(_ operation: Operation, to encoder: inout CanonicalEncoder) {
        encoder.appendByte(operation.kind.wireTag)
        encoder.append(operation.proposer)
        encoder.append(operation.sequence)
        encoder.append(operation.subject)
        encoder.append(UInt64(bitPattern: operation.amount))
        encoder.append(UInt64(bitPattern: operation.timestampMilliseconds))
        encoder.append(operation.time)
        encoder.append(operation.node)
        encoder.append(operation.payload)
        if let space = operation.space {
            encoder.appendByte(1)
            self.write(space, to: &encoder)
        } else {
            encoder.appendByte(0)
        }
        encoder.append(operation.work.nonce)
        encoder.append(operation.signature)
    }

    private static func readOperation(_ decoder: inout CanonicalDecoder) throws(ConsensusWireError) -> Operation {
        let kindOffset = decoder.offset
        let tag = try decoder.uint8("operation kind")
        guard let kind = Operation.Kind(wireTag: tag) else {
            throw ConsensusWireError(offset: kindOffset, message: "unknown operation kind \(tag)")
        }
        let proposer = try decoder.int("operation proposer")
        let sequence = try decoder.uint64("operation sequence")
        let subject = try decoder.string("operation subject", limit: self.maximumSubjectBytes)
        let amount = Int64(bitPattern: try decoder.uint64("operation amount"))
        let timestamp = Int64(bitPattern: try decoder.uint64("operation timestamp"))
        let presenceOffset = decoder.offset
        let time: TimeReference?
        switch try decoder.uint8("operation time reference") {
        case 0: time = nil
        case 1:
            time = TimeReference(validator: try decoder.int("time reference validator"), tick: try decoder.uint64("time reference tick"),
                                 hash: try decoder.hash("time reference hash"))
        case let other:
            throw ConsensusWireError(offset: presenceOffset, message: "operation time reference marker \(other) is neither 0 nor 1")
        }
        let node = try decoder.string("operation node", limit: self.maximumNodeIDBytes)
        let payloadOffset = decoder.offset
        let payload = try decoder.data("operation payload", limit: self.maximumPayloadBytes)
        if kind.isMeshOperation {
            do {
                _ = try MeshTerms.decode(payload, for: kind)
            } catch {
                throw ConsensusWireError(offset: payloadOffset + 8 + error.offset, message: error.message)
            }
        } else if kind == .reconfigure {
            guard node.isEmpty else { throw ConsensusWireError(offset: payloadOffset, message: "a reconfigure operation names no node: validators propose it") }
            do {
                _ = try ValidatorChange(decoding: payload)
            } catch {
                throw ConsensusWireError(offset: payloadOffset + 8 + error.offset, message: error.message)
            }
        } else if !payload.isEmpty || (!node.isEmpty && kind != .stake) {
            throw ConsensusWireError(offset: payloadOffset, message: "a \(kind.rawValue) operation carries no payload, and names no node")
        }
        let spaceOffset = decoder.offset
        let space: SpaceProof?
        switch try decoder.uint8("operation space proof") {
        case 0: space = nil
        case 1: space = try self.readSpaceProof(&decoder)
        case let other:
            throw ConsensusWireError(offset: spaceOffset, message: "operation space proof marker \(other) is neither 0 nor 1")
        }
        let nonce = try decoder.uint64("operation work nonce")
        let signature = try decoder.data("operation signature", limit: self.maximumSignatureBytes)
        return Operation(kind: kind, proposer: proposer, sequence: sequence, subject: subject, amount: amount,
                         timestampMilliseconds: timestamp, time: time, space: space, work: WorkProof(nonce: nonce),
                         signature: signature, node: node, payload: payload)
    }

    // MARK: - Space proofs

    static let maximumOpenings = 256
    static let maximumPathLength = 48

    static func encode(_ proof: SpaceProof) -> [UInt8] {
        var encoder = CanonicalEncoder()
        self.write(proof, to: &encoder)
        return encoder.bytes
    }

    private static func write(_ proof: SpaceProof, to encoder: inout CanonicalEncoder) {
        encoder.append(proof.commitment.nodeID)
        encoder.append(proof.commitment.seed)
        encoder.append(proof.commitment.leafCount)
        encoder.append(proof.commitment.rounds)
        encoder.append(proof.commitment.root)
        encoder.append(proof.challengeHeight)
        encoder.append(proof.challengeBlock)
        encoder.append(proof.openings.count)
        for opening in proof.openings {
            encoder.append(opening.index)
            encoder.append(opening.leaf)
            encoder.append(opening.path.count)
            for sibling in opening.path { encoder.append(sibling) }
        }
        encoder.append(proof.binding.nodeID)
        encoder.append(proof.binding.address)
        encoder.append(UInt64(bitPattern: proof.binding.signedAtMilliseconds))
        encoder.append(proof.binding.publicKey)
        encoder.append(proof.binding.signature)
    }

    private static func readSpaceProof(_ decoder: inout CanonicalDecoder) throws(ConsensusWireError) -> SpaceProof {
        let nodeID = try decoder.data("space node id", limit: 128)
        let seed = try decoder.hash("space seed")
        let leafCount = try decoder.int("space leaf count")
        let rounds = try decoder.int("space rounds")
        let root = try decoder.hash("space root")
        let height = try decoder.uint64("space challenge height")
        let block = try decoder.hash("space challenge block")
        let count = try decoder.count("space openings", limit: self.maximumOpenings, minimumItemBytes: 8 + 32 + 8)
        var openings: [SpaceOpening] = []
        for _ in 0..<count {
            let index = try decoder.int("space opening index")
            let leaf = try decoder.hash("space opening leaf")
            let length = try decoder.count("space opening path", limit: self.maximumPathLength, minimumItemBytes: 32)
            var path: [ConsensusHash] = []
            for _ in 0..<length { path.append(try decoder.hash("space opening path hash")) }
            openings.append(SpaceOpening(index: index, leaf: leaf, path: path))
        }
        let binding = AddressBinding(
            nodeID: try decoder.string("binding node id", limit: 128), address: try decoder.string("binding address", limit: 255),
            signedAtMilliseconds: Int64(bitPattern: try decoder.uint64("binding time")),
            publicKey: try decoder.data("binding key", limit: 64), signature: try decoder.data("binding signature", limit: 64))
        return SpaceProof(commitment: SpaceCommitment(nodeID: nodeID, seed: seed, leafCount: leafCount, rounds: rounds, root: root),
                          challengeHeight: height, challengeBlock: block, openings: openings, binding: binding)
    }
}

/// What validators send each other over the network: the protocol's messages, and operations clients
/// handed to one validator, forwarded so that every leader can propose them.
public enum ValidatorMessage: Sendable {
    /// A message of the validators of epoch `epoch`.
    case consensus(ConsensusMessage, epoch: UInt64)
    case operations([Operation])
}

extension Operation.Kind {
    var wireTag: UInt8 {
        switch self {
        case .stake: 1
        case .offerPool: 2
        case .claim: 3
        case .release: 4
        case .offer: 5
        case .withdraw: 6
        case .place: 7
        case .acknowledge: 8
        case .end: 9
        case .evict: 10
        case .expel: 11
        case .heartbeat: 12
        case .reconfigure: 13
        }
    }

    init?(wireTag: UInt8) {
        guard let kind = Self.allCases.first(where: { $0.wireTag == wireTag }) else { return nil }
        self = kind
    }
}
