/// A mesh-wide operation as validators order it: what, by whom, when, and the proofs it carries.
public struct Operation: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// Adds `amount` to the proposer's stake.
        case stake
        /// Offers a pool named `subject` of `amount` cores to the mesh.
        case offerPool
        /// Claims `amount` cores of pool `subject`.
        case claim
        /// Releases the proposer's claims on pool `subject`.
        case release
        /// A member node offers its pool `subject` on the terms of its ``MeshTerms/offer(_:)`` payload, or changes
        /// the terms of an earlier offer (what is claimed stays).
        case offer
        /// A member node withdraws its offer of pool `subject`.
        case withdraw
        /// A member node claims from another node's offer (``MeshTerms/placement(_:)``); `subject` is the claim's name.
        case place
        /// The provider tells whether it enforced the claim `subject` of a consumer (``MeshTerms/acknowledgement(_:)``).
        case acknowledge
        /// The consumer ends its claim `subject`: the provider frees it and the capacity returns to the offer.
        case end
        /// A validator removes the node whose id is `subject` from the mesh (`hypermesh mesh remove`): its offers are
        /// withdrawn, its placements end, and no operation of it counts any more.
        case expel
        /// The provider ends a consumer's claim `subject` on its offer (``MeshTerms/acknowledgement(_:)`` names the
        /// consumer and the reason): the owner takes capacity back.
        case evict
        /// A member node says it is alive, under which name and at which STOQ address
        /// (``MeshTerms/heartbeat(_:)``); nodes silent for ``MeshLedger/lostAfterMilliseconds`` of ledger time are `Lost`.
        case heartbeat
        /// A validator asks for the next epoch's validator set (``ValidatorChange`` in the payload): the block that
        /// commits it ends the epoch, and the new validators continue from it.
        case reconfigure

        /// Kinds that member nodes propose, signed by their node key (``Operation/node``).
        public var isMeshOperation: Bool {
            switch self {
            case .offer, .withdraw, .place, .acknowledge, .end, .evict, .heartbeat: true
            case .stake, .offerPool, .claim, .release, .expel, .reconfigure: false
            }
        }
    }

    public let kind: Kind
    /// The validator or node index that proposes (and signs) it; -1 for a member node's operation.
    public let proposer: Int
    /// The node id of the member node that proposes (and signs) a mesh operation; empty for the others.
    public let node: String
    /// A mesh operation's terms (``MeshTerms``, canonical bytes); empty for the others.
    public let payload: [UInt8]
    /// Per-proposer sequence number: two operations never share a digest.
    public let sequence: UInt64
    public let subject: String
    public let amount: Int64
    /// The proposer's clock when it made the operation (PoTime's drift check).
    public let timestampMilliseconds: Int64
    /// PoWork over ``digest``.
    public var work: WorkProof
    /// PoStake: the proposer's signature over ``digest``.
    public var signature: [UInt8]
    /// PoTime: a recent tick of a validator's history chain (covered by ``digest``, so by the signature).
    public let time: TimeReference?
    /// PoSpace, for an `offerPool` when the mesh demands it (covered by ``digest``).
    public let space: SpaceProof?

    public init(kind: Kind, proposer: Int, sequence: UInt64, subject: String, amount: Int64, timestampMilliseconds: Int64,
                time: TimeReference? = nil, space: SpaceProof? = nil, work: WorkProof = WorkProof(nonce: 0),
                signature: [UInt8] = [], node: String = "", payload: [UInt8] = []) {
        self.kind = kind
        self.proposer = proposer
        self.node = node
        self.payload = payload
        self.sequence = sequence
        self.subject = subject
        self.amount = amount
        self.timestampMilliseconds = timestampMilliseconds
        self.work = work
        self.signature = signature
        self.time = time
        self.space = space
        var encoder = CanonicalEncoder()
        encoder.append("hypermesh-operation-v1")
        encoder.append(kind.rawValue)
        encoder.append(proposer)
        encoder.append(sequence)
        encoder.append(subject)
        encoder.append(UInt64(bitPattern: amount))
        encoder.append(UInt64(bitPattern: timestampMilliseconds))
        encoder.append(time)
        encoder.append(node)
        encoder.append(payload)
        if let space {
            encoder.appendByte(1)
            encoder.append(space.digest)
        } else {
            encoder.appendByte(0)
        }
        self.digest = ConsensusHash.of(encoder.bytes)
    }

    /// SHA-256 of everything but the proofs: what the proofs are about. Computed once: the fields it covers
    /// cannot change, and every validator checks every operation several times.
    public let digest: ConsensusHash

    public var description: String {
        let by = self.node.isEmpty ? "\(self.proposer)" : "node \(self.node.prefix(12))"
        return "\(self.kind.rawValue)(\(self.subject), \(self.amount)) by \(by)#\(self.sequence)"
    }

    /// A mesh operation's terms, decoded; `nil` when the payload does not decode for its kind.
    public var terms: MeshTerms? { try? MeshTerms.decode(self.payload, for: self.kind) }
}

/// A tick of one validator's history chain that an operation names: it was made after that tick.
public struct TimeReference: Sendable, Hashable {
    public var validator: Int
    public var tick: UInt64
    public var hash: ConsensusHash

    public init(validator: Int, tick: UInt64, hash: ConsensusHash) {
        self.validator = validator
        self.tick = tick
        self.hash = hash
    }
}

extension CanonicalEncoder {
    /// A marker byte (0: none, 1: present), then validator, tick and hash: in operation digests and on the wire.
    mutating func append(_ time: TimeReference?) {
        guard let time else { return self.appendByte(0) }
        self.appendByte(1)
        self.append(time.validator)
        self.append(time.tick)
        self.append(time.hash)
    }
}
