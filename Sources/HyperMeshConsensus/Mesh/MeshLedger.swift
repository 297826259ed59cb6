/// The mesh's part of the ledger: pools that member nodes offer, and the claims other nodes placed on them.
/// Every validator and follower applies the same committed operations in the same order, so they agree on
/// every offer's free capacity and on which of two claims racing for the last of it won.
public struct MeshLedger: Sendable, Equatable {
    public struct OfferKey: Sendable, Hashable, Comparable {
        /// The providing node's id.
        public var node: String
        public var pool: String

        public init(node: String, pool: String) {
            self.node = node
            self.pool = pool
        }

        public static func < (lhs: OfferKey, rhs: OfferKey) -> Bool { (lhs.node, lhs.pool) < (rhs.node, rhs.pool) }
    }

    public struct PlacementKey: Sendable, Hashable, Comparable {
        /// The consuming node's id.
        public var consumer: String
        public var claim: String

        public init(consumer: String, claim: String) {
            self.consumer = consumer
            self.claim = claim
        }

        public static func < (lhs: PlacementKey, rhs: PlacementKey) -> Bool { (lhs.consumer, lhs.claim) < (rhs.consumer, rhs.claim) }
    }

    public struct Offer: Sendable, Equatable {
        public var terms: OfferTerms
        /// What placed claims hold of it.
        public var claimed: LedgerAmounts
        /// The height of the block that committed the current terms.
        public var height: UInt64
        /// How many placements hold some of it.
        public var placementCount = 0
        /// Ledger time when the current terms were committed (a closing offer's grace counts from it).
        public var termsTimeMilliseconds: Int64 = 0

        /// Closed to new claims (``OfferTerms/maximumPerClaim`` zero): its owner is withdrawing it once the
        /// claims on it had their grace.
        public var isClosing: Bool { self.terms.maximumPerClaim.isZero }

        public var free: LedgerAmounts { self.terms.total.subtracting(self.claimed) }
    }

    public struct Placement: Sendable, Equatable {
        public enum State: Sendable, Equatable {
            /// Committed; the provider has not answered yet.
            case placed
            /// The provider enforces it.
            case enforced
        }

        public var terms: PlacementTerms
        public var state: State
        /// The height of the block that placed it.
        public var height: UInt64
        /// The height of the provider's acknowledgement, once enforced.
        public var enforcedHeight: UInt64?
        /// When its lease ends, in ledger time (``MeshLedger/timeMilliseconds``); `nil`: until it is ended.
        public var expiresAtMilliseconds: Int64?
        /// What the provider said when it acknowledged: empty when it enforces everything, else what it cannot
        /// (e.g. `EnforcementUnavailable: …`).
        public var enforcementNote = ""

        public var offer: OfferKey { OfferKey(node: self.terms.provider, pool: self.terms.pool) }
    }

    /// A node as its operations show it: its heartbeats name it and say where it listens.
    public struct Member: Sendable, Equatable {
        /// From its heartbeats; empty until the first.
        public var name: String
        public var address: String
        /// Ledger time when its last operation was committed.
        public var lastSeenMilliseconds: Int64
        /// What its own clock said in its last heartbeat: what ledger time is made of.
        var clockMilliseconds: Int64
    }

    /// Ledger time silent nodes are `Lost` after: with heartbeats every few seconds, missing about four.
    public static let lostAfterMilliseconds: Int64 = 12_000

    public private(set) var offers: [OfferKey: Offer] = [:]
    public private(set) var placements: [PlacementKey: Placement] = [:]
    /// Why each claim that no longer holds a placement ended: `Ended` (its consumer), `OfferWithdrawn`,
    /// `ProviderFailed: …` (the provider could not enforce it), `Evicted: …` (the provider took the capacity back).
    public private(set) var ended: [PlacementKey: String] = [:]
    /// Stakes of member nodes, by node id.
    public private(set) var stakes: [String: Int64] = [:]
    /// Nodes removed from the mesh (``Operation/Kind/expel``): nothing they propose counts.
    public private(set) var expelled: Set<String> = []
    /// Every node that committed an operation, by node id.
    public private(set) var members: [String: Member] = [:]
    /// Ledger time, in milliseconds since the epoch: the median of the clocks of the nodes heard from within
    /// ``lostAfterMilliseconds`` (so neither one fast clock nor the silent nodes move it), never going back.
    /// With fewer than three live nodes it follows the fastest of them.
    public private(set) var timeMilliseconds: Int64 = 0
    /// Placements with a lease, and when it ends.
    private var leaseEnds: [PlacementKey: Int64] = [:]

    public init() {}

    /// Whether `node` was heard from but has been silent for longer than ``lostAfterMilliseconds`` of ledger time.
    public func isLost(_ node: String) -> Bool {
        guard let member = self.members[node] else { return false }
        return self.timeMilliseconds - member.lastSeenMilliseconds > Self.lostAfterMilliseconds
    }

    /// The node id of the member called `name`, if one is.
    public func node(named name: String) -> String? {
        self.members.first { $0.value.name == name && !self.expelled.contains($0.key) }?.key
    }

    /// The placements on `node`'s offers.
    public func placements(onProvider node: String) -> [(key: PlacementKey, placement: Placement)] {
        self.placements.filter { $0.value.terms.provider == node }.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }
    }

    /// Why `operation` (a mesh operation) cannot take effect, or `nil` when it can.
    func problem(with operation: Operation, minimumStake: Int64) -> String? {
        let node = operation.node
        guard !node.isEmpty else { return "a \(operation.kind.rawValue) operation names no node" }
        guard let terms = operation.terms else { return "the \(operation.kind.rawValue) terms do not decode" }
        if self.expelled.contains(node) { return "node \(node.prefix(12)) was removed from the mesh" }
        let stake = self.stakes[node] ?? 0
        switch (operation.kind, terms) {
        case (.offer, .offer(let offer)):
            if stake < minimumStake { return "stake \(stake) of node \(node.prefix(12)) below the minimum \(minimumStake)" }
            guard OfferTerms.offerable.contains(offer.privacy) else {
                return "a pool offered to the mesh is not private (privacy \(offer.privacy))"
            }
            if offer.total.hasNegative || offer.maximumPerClaim.hasNegative { return "an offer's amounts are not negative" }
            if offer.total.isZero { return "pool \(operation.subject) offers nothing" }
            return nil
        case (.withdraw, _):
            return self.offers[OfferKey(node: node, pool: operation.subject)] == nil
                ? "node \(node.prefix(12)) offers no pool \(operation.subject)" : nil
        case (.place, .placement(let placement)):
            if stake < minimumStake { return "stake \(stake) of node \(node.prefix(12)) below the minimum \(minimumStake)" }
            let key = PlacementKey(consumer: node, claim: operation.subject)
            if self.placements[key] != nil { return "claim \(operation.subject) of node \(node.prefix(12)) is already placed" }
            if placement.provider == node { return "a node claims its own pools locally, not through the ledger" }
            let offerKey = OfferKey(node: placement.provider, pool: placement.pool)
            guard let offer = self.offers[offerKey] else {
                return "node \(placement.provider.prefix(12)) offers no pool \(placement.pool)"
            }
            if self.isLost(placement.provider) {
                let silent = (self.timeMilliseconds - (self.members[placement.provider]?.lastSeenMilliseconds ?? 0)) / 1000
                return "provider node \(placement.provider.prefix(12)) is Lost (silent for \(silent) s of ledger time)"
            }
            guard offer.terms.permits(node) else {
                return "pool \(placement.pool) is \(offer.terms.privacy); node \(node.prefix(12)) may not claim from it"
            }
            if placement.amounts.hasNegative || placement.amounts.isZero { return "a claim takes something, and nothing negative" }
            if offer.isClosing { return "pool \(placement.pool) of node \(placement.provider.prefix(12)) is being withdrawn" }
            let overLimit = placement.amounts.exceeding(offer.terms.maximumPerClaim)
            if !overLimit.isEmpty { return "\(overLimit.joined(separator: ", ")) above the pool's maxPerClaim" }
            let short = placement.amounts.exceeding(offer.free)
            if !short.isEmpty {
                return "not enough free \(short.joined(separator: ", ")) in pool \(placement.pool) of node \(placement.provider.prefix(12))"
                    + " (free \(offer.free), asked \(placement.amounts))"
            }
            return nil
        case (.acknowledge, .acknowledgement(let acknowledgement)):
            let key = PlacementKey(consumer: acknowledgement.consumer, claim: operation.subject)
            guard let placement = self.placements[key] else { return "no placed claim \(operation.subject) of node \(acknowledgement.consumer.prefix(12))" }
            if placement.terms.provider != node { return "only the provider acknowledges claim \(operation.subject)" }
            return placement.state == .placed ? nil : "claim \(operation.subject) is already acknowledged"
        case (.end, _):
            return self.placements[PlacementKey(consumer: node, claim: operation.subject)] == nil
                ? "node \(node.prefix(12)) has no placed claim \(operation.subject)" : nil
        case (.evict, .acknowledgement(let eviction)):
            let key = PlacementKey(consumer: eviction.consumer, claim: operation.subject)
            guard let placement = self.placements[key] else { return "no placed claim \(operation.subject) of node \(eviction.consumer.prefix(12))" }
            return placement.terms.provider == node ? nil : "only the provider evicts claim \(operation.subject)"
        case (.stake, _):
            return operation.amount > 0 ? nil : "stake amounts are positive"
        case (.heartbeat, .heartbeat(let heartbeat)):
            if heartbeat.name.isEmpty { return "a heartbeat names its node" }
            if let owner = self.node(named: heartbeat.name), owner != node {
                return "name \(heartbeat.name) belongs to node \(owner.prefix(12))"
            }
            return heartbeat.address.isEmpty ? "a heartbeat says where its node listens" : nil
        default:
            return "the \(operation.kind.rawValue) operation carries the terms of another kind"
        }
    }

    /// Applies a mesh operation that ``problem(with:minimumStake:)`` found nothing wrong with.
    mutating func apply(_ operation: Operation, height: UInt64) {
        let node = operation.node
        // Every operation is a sign of life; a heartbeat also names the node and moves ledger time with its clock.
        var member = self.members[node]
            ?? Member(name: "", address: "", lastSeenMilliseconds: 0, clockMilliseconds: operation.timestampMilliseconds)
        if case .heartbeat(let heartbeat)? = operation.terms {
            (member.name, member.address, member.clockMilliseconds) = (heartbeat.name, heartbeat.address, operation.timestampMilliseconds)
            self.members[node] = member
            self.advanceTime(heardFrom: node)
        }
        member.lastSeenMilliseconds = self.timeMilliseconds
        self.members[node] = member
        switch (operation.kind, operation.terms) {
        case (.offer, .offer(let terms)?):
            let key = OfferKey(node: node, pool: operation.subject)
            self.offers[key] = Offer(terms: terms, claimed: self.offers[key]?.claimed ?? .zero, height: height,
                                     placementCount: self.offers[key]?.placementCount ?? 0, termsTimeMilliseconds: self.timeMilliseconds)
        case (.withdraw, _):
            let key = OfferKey(node: node, pool: operation.subject)
            self.offers[key] = nil
            for (placementKey, placement) in self.placements where placement.offer == key {
                self.endPlacement(placementKey, reason: "OfferWithdrawn")
            }
        case (.place, .placement(let terms)?):
            let key = PlacementKey(consumer: node, claim: operation.subject)
            let offerKey = OfferKey(node: terms.provider, pool: terms.pool)
            if let claimed = self.offers[offerKey]?.claimed {
                self.offers[offerKey]?.claimed = claimed.adding(terms.amounts)
                self.offers[offerKey]?.placementCount += 1
            }
            let expiry = terms.leaseMilliseconds > 0 ? self.timeMilliseconds + terms.leaseMilliseconds : nil
            self.placements[key] = Placement(terms: terms, state: .placed, height: height, expiresAtMilliseconds: expiry)
            if let expiry { self.leaseEnds[key] = expiry }
            self.ended[key] = nil
        case (.acknowledge, .acknowledgement(let acknowledgement)?):
            let key = PlacementKey(consumer: acknowledgement.consumer, claim: operation.subject)
            if acknowledgement.enforced {
                self.placements[key]?.state = .enforced
                self.placements[key]?.enforcedHeight = height
                self.placements[key]?.enforcementNote = acknowledgement.reason
            } else {
                self.endPlacement(key, reason: "ProviderFailed: \(acknowledgement.reason)")
            }
        case (.end, _):
            self.endPlacement(PlacementKey(consumer: node, claim: operation.subject), reason: "Ended")
        case (.evict, .acknowledgement(let eviction)?):
            self.endPlacement(PlacementKey(consumer: eviction.consumer, claim: operation.subject), reason: "Evicted: \(eviction.reason)")
        case (.stake, _):
            self.stakes[node, default: 0] += operation.amount
        default:
            break
        }
    }

    /// `node` leaves the mesh: its offers go (the claims on them end, `ProviderRemoved`), its own placements end
    /// (`ConsumerRemoved`).
    mutating func expel(_ node: String) {
        self.expelled.insert(node)
        let offered = Set(self.offers.keys.filter { $0.node == node })
        let ending = self.placements.filter { offered.contains($0.value.offer) || $0.key.consumer == node }
        for (key, placement) in ending.sorted(by: { $0.key < $1.key }) {
            self.endPlacement(key, reason: offered.contains(placement.offer) ? "ProviderRemoved" : "ConsumerRemoved")
        }
        for key in offered { self.offers[key] = nil }
    }

    /// Moves ledger time to the median clock of the nodes heard from lately (with `node`, just heard), and ends
    /// the leases that time has passed.
    private mutating func advanceTime(heardFrom node: String) {
        let clocks = self.members.filter { id, member in
            id == node || (!self.expelled.contains(id) && self.timeMilliseconds - member.lastSeenMilliseconds <= Self.lostAfterMilliseconds)
        }.map(\.value.clockMilliseconds).sorted()
        guard !clocks.isEmpty else { return }
        let median = clocks[clocks.count / 2]
        guard median > self.timeMilliseconds else { return }
        self.timeMilliseconds = median
        for (key, end) in self.leaseEnds.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) where end <= median {
            self.endPlacement(key, reason: "LeaseExpired")
        }
    }

    private mutating func endPlacement(_ key: PlacementKey, reason: String) {
        self.leaseEnds[key] = nil
        guard let placement = self.placements.removeValue(forKey: key) else { return }
        if let claimed = self.offers[placement.offer]?.claimed {
            self.offers[placement.offer]?.claimed = claimed.subtracting(placement.terms.amounts)
            self.offers[placement.offer]?.placementCount -= 1
        }
        self.ended[key] = reason
    }
}
