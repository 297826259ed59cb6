/// What the mesh operations of member nodes carry besides their subject, in ``Operation/payload``
/// (canonical bytes, covered by the digest and so by the node's signature).
public enum MeshTerms: Sendable, Hashable {
    /// `offer`: a pool of the proposing node, offered to the mesh (subject: the pool's name).
    case offer(OfferTerms)
    /// `place`: a claim of the proposing node on another node's offer (subject: the claim's name).
    case placement(PlacementTerms)
    /// `acknowledge`: the provider enforced a placed claim, or could not (subject: the claim's name); `evict`: the
    /// provider ends it (`enforced` false, with the reason).
    case acknowledgement(AcknowledgementTerms)
    /// `heartbeat`: the node's name and STOQ address (subject: empty).
    case heartbeat(HeartbeatTerms)
    /// `withdraw` and `end` carry nothing but their subject.
    case none

    static let maximumAllowEntries = 256
    static let maximumReasonBytes = 1024

    public var bytes: [UInt8] {
        var encoder = CanonicalEncoder()
        switch self {
        case .offer(let offer):
            encoder.append(offer.privacy)
            encoder.append(offer.allow.count)
            for entry in offer.allow { encoder.append(entry) }
            encoder.append(offer.total)
            encoder.append(offer.maximumPerClaim)
        case .placement(let placement):
            encoder.append(placement.provider)
            encoder.append(placement.pool)
            encoder.append(placement.amounts)
            encoder.append(UInt64(bitPattern: placement.leaseMilliseconds))
        case .heartbeat(let heartbeat):
            encoder.append(heartbeat.name)
            encoder.append(heartbeat.address)
        case .acknowledgement(let acknowledgement):
            encoder.append(acknowledgement.consumer)
            encoder.appendByte(acknowledgement.enforced ? 1 : 0)
            encoder.append(acknowledgement.reason)
        case .none:
            break
        }
        return encoder.bytes
    }

    /// The terms an operation of `kind` carries, decoded and checked; the error says what is wrong where.
    public static func decode(_ bytes: [UInt8], for kind: Operation.Kind) throws(ConsensusWireError) -> MeshTerms {
        var decoder = CanonicalDecoder(bytes)
        let terms: MeshTerms
        switch kind {
        case .offer:
            let privacy = try decoder.string("offer privacy", limit: 32)
            let count = try decoder.count("offer allow", limit: Self.maximumAllowEntries, minimumItemBytes: 8)
            var allow: [String] = []
            for _ in 0..<count { allow.append(try decoder.string("offer allow entry", limit: 128)) }
            let total = try decoder.amounts("offer total")
            let maximum = try decoder.amounts("offer maxPerClaim")
            terms = .offer(OfferTerms(privacy: privacy, allow: allow, total: total, maximumPerClaim: maximum))
        case .place:
            let provider = try decoder.string("placement provider", limit: 128)
            let pool = try decoder.string("placement pool", limit: ConsensusWire.maximumSubjectBytes)
            let amounts = try decoder.amounts("placement amounts")
            let leaseOffset = decoder.offset
            let lease = Int64(bitPattern: try decoder.uint64("placement lease"))
            if lease < 0 { throw ConsensusWireError(offset: leaseOffset, message: "placement lease \(lease) ms is negative") }
            terms = .placement(PlacementTerms(provider: provider, pool: pool, amounts: amounts, leaseMilliseconds: lease))
        case .heartbeat:
            let name = try decoder.string("heartbeat name", limit: HeartbeatTerms.maximumNameBytes)
            let address = try decoder.string("heartbeat address", limit: 256)
            terms = .heartbeat(HeartbeatTerms(name: name, address: address))
        case .acknowledge, .evict:
            let consumer = try decoder.string("acknowledgement consumer", limit: 128)
            let markerOffset = decoder.offset
            let enforced: Bool
            switch try decoder.uint8("acknowledgement outcome") {
            case 0: enforced = false
            case 1: enforced = true
            case let other: throw ConsensusWireError(offset: markerOffset, message: "acknowledgement outcome \(other) is neither 0 nor 1")
            }
            terms = .acknowledgement(AcknowledgementTerms(consumer: consumer, enforced: enforced,
                                                          reason: try decoder.string("acknowledgement reason", limit: Self.maximumReasonBytes)))
        default:
            terms = .none
        }
        try decoder.finish("\(kind.rawValue) terms")
        return terms
    }
}

/// A pool as its owner offers it: who may claim (the pool's privacy and `allow` node ids), how much in all
/// and at most per claim.
public struct OfferTerms: Sendable, Hashable {
    public var privacy: String
    public var allow: [String]
    public var total: LedgerAmounts
    public var maximumPerClaim: LedgerAmounts

    public init(privacy: String, allow: [String], total: LedgerAmounts, maximumPerClaim: LedgerAmounts) {
        self.privacy = privacy
        self.allow = allow
        self.total = total
        self.maximumPerClaim = maximumPerClaim
    }

    /// Privacies a pool may be offered with: `private` pools stay on their node.
    public static let offerable: Set<String> = ["private-network", "p2p", "public-network", "full-public"]

    /// Whether `consumer` (a node id) may claim: the ledger's half of the pool's privacy rule (groups are
    /// resolved by the provider).
    public func permits(_ consumer: String) -> Bool {
        switch self.privacy {
        case "private-network", "p2p": self.allow.contains(consumer)
        case "public-network", "full-public": true
        default: false
        }
    }
}

/// A claim on another node's offered pool.
public struct PlacementTerms: Sendable, Hashable {
    /// The provider's node id.
    public var provider: String
    public var pool: String
    public var amounts: LedgerAmounts
    /// How long the claim holds, in ledger time (the claim's `duration`); 0: until it is ended.
    public var leaseMilliseconds: Int64

    public init(provider: String, pool: String, amounts: LedgerAmounts, leaseMilliseconds: Int64 = 0) {
        self.provider = provider
        self.pool = pool
        self.amounts = amounts
        self.leaseMilliseconds = leaseMilliseconds
    }
}

/// What a node's heartbeat says of it.
public struct HeartbeatTerms: Sendable, Hashable {
    static let maximumNameBytes = 63

    /// The node's name in the mesh (its certificate's common name): the first node to announce a name keeps it.
    public var name: String
    /// Where its STOQ server listens, as `host:port`.
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

/// The provider's answer to a placed claim.
public struct AcknowledgementTerms: Sendable, Hashable {
    public var consumer: String
    /// `true`: the allocation is enforced; `false`: it could not be (``reason`` says why) and the claim ends.
    public var enforced: Bool
    public var reason: String

    public init(consumer: String, enforced: Bool, reason: String = "") {
        self.consumer = consumer
        self.enforced = enforced
        self.reason = reason
    }
}
