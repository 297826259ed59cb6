/// One validator of an epoch: the node id its votes are signed by (for simulated validators, the index of its
/// key), and where its STOQ server listens.
public struct ValidatorMember: Sendable, Hashable {
    public var nodeID: String
    public var address: String

    public init(nodeID: String, address: String) {
        self.nodeID = nodeID
        self.address = address
    }
}

/// The validators from one block on. Epoch 0 is the `Mesh` spec's list; a committed `reconfigure` operation
/// (``ValidatorChange``) ends its epoch with the block that carries it, and the next epoch's validators build
/// on that block as their genesis — the same block on every validator and follower, because it is decided by
/// the committed chain alone.
public struct ValidatorEpoch: Sendable, Equatable {
    public var number: UInt64
    public var members: [ValidatorMember]
    /// The height of the block the epoch builds on (0 for epoch 0): the last block of the epoch before.
    public var baseHeight: UInt64

    public init(number: UInt64, members: [ValidatorMember], baseHeight: UInt64) {
        self.number = number
        self.members = members
        self.baseHeight = baseHeight
    }

    public var nodeIDs: [String] { self.members.map(\.nodeID) }
    /// f of n = 3f + 1 (rounded down for other n).
    public var faults: Int { max(self.members.count - 1, 0) / 3 }
    /// Votes a certificate of this epoch needs: n − f.
    public var quorum: Int { self.members.count - self.faults }

    public func index(of nodeID: String) -> Int? { self.members.firstIndex { $0.nodeID == nodeID } }
}

/// What a `reconfigure` operation asks for: the validators of epoch ``epoch``. Only a validator of the epoch
/// before proposes it (signed with its validator key), and it counts only while that epoch lasts: a change
/// naming any other epoch number is refused when applied.
public struct ValidatorChange: Sendable, Equatable {
    public var epoch: UInt64
    public var members: [ValidatorMember]

    /// Validators an epoch may have at most.
    public static let maximumMembers = 64

    public init(epoch: UInt64, members: [ValidatorMember]) {
        self.epoch = epoch
        self.members = members
    }

    public var bytes: [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append("hypermesh-validators-v1")
        encoder.append(self.epoch)
        encoder.append(self.members.count)
        for member in self.members {
            encoder.append(member.nodeID)
            encoder.append(member.address)
        }
        return encoder.bytes
    }

    public init(decoding bytes: [UInt8]) throws(ConsensusWireError) {
        var decoder = CanonicalDecoder(bytes)
        let tag = try decoder.string("validator change tag", limit: 64)
        guard tag == "hypermesh-validators-v1" else {
            throw ConsensusWireError(offset: 0, message: "validator change: tag \(tag) is not hypermesh-validators-v1")
        }
        self.epoch = try decoder.uint64("validator change epoch")
        let count = try decoder.count("validator change members", limit: Self.maximumMembers, minimumItemBytes: 16)
        var members: [ValidatorMember] = []
        for _ in 0..<count {
            members.append(ValidatorMember(nodeID: try decoder.string("validator node id", limit: ConsensusWire.maximumNodeIDBytes),
                                           address: try decoder.string("validator address", limit: 256)))
        }
        self.members = members
        try decoder.finish("validator change")
    }

    /// Why this change cannot start the epoch after `current`, or `nil` when it can.
    func problem(after current: ValidatorEpoch, expelled: Set<String>) -> String? {
        if self.epoch != current.number + 1 {
            return "reconfigure names epoch \(self.epoch), but the next epoch is \(current.number + 1)"
        }
        if self.members.isEmpty { return "reconfigure leaves no validator" }
        if Set(self.members.map(\.nodeID)).count != self.members.count { return "reconfigure lists a validator twice" }
        if let empty = self.members.first(where: { $0.nodeID.isEmpty }) { return "reconfigure lists a validator without a node id (\(empty.address))" }
        if let removed = self.members.first(where: { expelled.contains($0.nodeID) }) {
            return "reconfigure lists node \(removed.nodeID.prefix(12)), which was removed from the mesh"
        }
        return nil
    }
}
