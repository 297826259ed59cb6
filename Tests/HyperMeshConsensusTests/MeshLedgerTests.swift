import Crypto
import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
@testable import HyperMeshConsensus

/// The mesh's part of the ledger: every refusal with its reason, capacity kept per offer, and the race for the
/// last of it decided by order alone.
struct MeshLedgerTests {
    static let provider = String(repeating: "a", count: 64)
    static let consumer = String(repeating: "b", count: 64)
    static let other = String(repeating: "c", count: 64)

    static func operation(_ kind: HyperMeshConsensus.Operation.Kind, by node: String, _ subject: String, _ terms: MeshTerms,
                          sequence: UInt64 = 0, amount: Int64 = 0, at time: Int64 = 0) -> HyperMeshConsensus.Operation {
        HyperMeshConsensus.Operation(kind: kind, proposer: -1, sequence: sequence, subject: subject, amount: amount, timestampMilliseconds: time,
                                     node: node, payload: terms.bytes)
    }

    /// `node`'s heartbeat with its clock at `time` (milliseconds).
    static func heartbeat(_ node: String, _ name: String, at time: Int64) -> HyperMeshConsensus.Operation {
        self.operation(.heartbeat, by: node, name, .heartbeat(HeartbeatTerms(name: name, address: "10.0.0.1:9292")), sequence: UInt64(time),
                       at: time)
    }

    static let offer = OfferTerms(privacy: "public-network", allow: [], total: LedgerAmounts(cpuMillis: 2000, memoryBytes: 1 << 30),
                                  maximumPerClaim: LedgerAmounts(cpuMillis: 1000, memoryBytes: 1 << 30))

    static func place(_ claim: String, by node: String = consumer, cpu: Int64 = 1000, memory: Int64 = 0, pool: String = "gpu",
                      provider: String = provider) -> HyperMeshConsensus.Operation {
        self.operation(.place, by: node, claim, .placement(PlacementTerms(provider: provider, pool: pool,
                                                                            amounts: LedgerAmounts(cpuMillis: cpu, memoryBytes: memory))))
    }

    /// Applies `operation` at `height`; returns the refusal, if any.
    static func apply(_ operation: HyperMeshConsensus.Operation, to ledger: inout LedgerState, height: UInt64 = 1) -> String? {
        ledger.apply(operation, minimumStake: 0, height: height)
        return ledger.rejections[operation.digest]
    }

    @Test func offersPlacementsAcknowledgementsAndEnds() throws {
        var ledger = LedgerState()
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger) == nil)
        let key = MeshLedger.OfferKey(node: Self.provider, pool: "gpu")
        #expect(ledger.mesh.offers[key]?.height == 1 && ledger.mesh.offers[key]?.free == Self.offer.total)

        #expect(Self.apply(Self.place("job"), to: &ledger, height: 2) == nil)
        let placement = MeshLedger.PlacementKey(consumer: Self.consumer, claim: "job")
        #expect(ledger.mesh.placements[placement]?.state == .placed && ledger.mesh.placements[placement]?.height == 2)
        #expect(ledger.mesh.offers[key]?.free.cpuMillis == 1000)
        #expect(ledger.mesh.placements(onProvider: Self.provider).map(\.key) == [placement])
        #expect(ledger.mesh.offers[key]?.placementCount == 1)

        let acknowledge = Self.operation(.acknowledge, by: Self.provider, "job", .acknowledgement(
            AcknowledgementTerms(consumer: Self.consumer, enforced: true)))
        #expect(Self.apply(acknowledge, to: &ledger, height: 3) == nil)
        #expect(ledger.mesh.placements[placement]?.state == .enforced && ledger.mesh.placements[placement]?.enforcedHeight == 3)
        #expect(ledger.mesh.placements[placement]?.enforcementNote == "")

        // The owner changes the terms: what is claimed stays.
        var bigger = Self.offer
        bigger.total.cpuMillis = 4000
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(bigger), sequence: 1), to: &ledger, height: 4) == nil)
        #expect(ledger.mesh.offers[key]?.free.cpuMillis == 3000 && ledger.mesh.offers[key]?.height == 4)

        #expect(Self.apply(Self.operation(.end, by: Self.consumer, "job", .none), to: &ledger) == nil)
        #expect(ledger.mesh.placements.isEmpty && ledger.mesh.ended[placement] == "Ended")
        #expect(ledger.mesh.offers[key]?.placementCount == 0)
        #expect(ledger.mesh.offers[key]?.free.cpuMillis == 4000)

        // A provider that cannot enforce ends the placement with its reason.
        #expect(Self.apply(Self.place("job", cpu: 500, memory: 0), to: &ledger) == nil)
        #expect(ledger.mesh.ended[placement] == nil)
        #expect(Self.apply(Self.operation(.acknowledge, by: Self.provider, "job", .acknowledgement(
            AcknowledgementTerms(consumer: Self.consumer, enforced: false, reason: "InsufficientCapacity: 0 free"))), to: &ledger) == nil)
        #expect(ledger.mesh.ended[placement] == "ProviderFailed: InsufficientCapacity: 0 free")
        #expect(ledger.mesh.offers[key]?.free.cpuMillis == 4000)

        // Withdrawing the offer ends what is placed on it.
        #expect(Self.apply(Self.place("again"), to: &ledger) == nil)
        #expect(Self.apply(Self.operation(.withdraw, by: Self.provider, "gpu", .none), to: &ledger) == nil)
        #expect(ledger.mesh.offers.isEmpty && ledger.mesh.placements.isEmpty)
        #expect(ledger.mesh.ended[MeshLedger.PlacementKey(consumer: Self.consumer, claim: "again")] == "OfferWithdrawn")
    }

    @Test func everyRefusalSaysWhy() throws {
        var ledger = LedgerState()
        var p2p = Self.offer
        p2p.privacy = "p2p"
        p2p.allow = [Self.other]
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger) == nil)
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "friends", .offer(p2p)), to: &ledger) == nil)
        #expect(Self.apply(Self.place("job"), to: &ledger) == nil)
        #expect(Self.apply(Self.place("job2"), to: &ledger) == nil)
        var privateOffer = Self.offer
        privateOffer.privacy = "private"
        var empty = Self.offer
        empty.total = .zero
        var negative = Self.offer
        negative.maximumPerClaim.memoryBytes = -1
        let acknowledgement = MeshTerms.acknowledgement(AcknowledgementTerms(consumer: Self.consumer, enforced: true))
        let cases: [(HyperMeshConsensus.Operation, String)] = [
            (Self.operation(.offer, by: Self.provider, "p", .offer(privateOffer)), "a pool offered to the mesh is not private (privacy private)"),
            (Self.operation(.offer, by: Self.provider, "p", .offer(empty)), "pool p offers nothing"),
            (Self.operation(.offer, by: Self.provider, "p", .offer(negative)), "an offer's amounts are not negative"),
            (Self.operation(.offer, by: "", "p", .offer(Self.offer)), "a offer operation names no node"),
            (HyperMeshConsensus.Operation(kind: .offer, proposer: -1, sequence: 9, subject: "p", amount: 0, timestampMilliseconds: 0,
                                          node: Self.provider, payload: [1, 2, 3]), "the offer terms do not decode"),
            (Self.operation(.offer, by: Self.provider, "p", .placement(PlacementTerms(provider: Self.provider, pool: "p", amounts: .zero))),
             "the offer terms do not decode"),
            (Self.operation(.withdraw, by: Self.consumer, "gpu", .none), "node \(Self.consumer.prefix(12)) offers no pool gpu"),
            (Self.place("job", cpu: 1), "claim job of node \(Self.consumer.prefix(12)) is already placed"),
            (Self.place("mine", by: Self.provider), "a node claims its own pools locally, not through the ledger"),
            (Self.place("x", pool: "none"), "node \(Self.provider.prefix(12)) offers no pool none"),
            (Self.place("x", pool: "friends"), "pool friends is p2p; node \(Self.consumer.prefix(12)) may not claim from it"),
            (Self.place("x", cpu: 0), "a claim takes something, and nothing negative"),
            (Self.place("x", cpu: -5, memory: 10), "a claim takes something, and nothing negative"),
            (Self.place("x", cpu: 1500), "cpu above the pool's maxPerClaim"),
            (Self.place("x", cpu: 500, memory: 1 << 20), "not enough free cpu in pool gpu of node \(Self.provider.prefix(12)) "
                + "(free memory=\(1 << 30), asked cpu=500 memory=\(1 << 20))"),
            (Self.operation(.acknowledge, by: Self.other, "job", acknowledgement), "only the provider acknowledges claim job"),
            (Self.operation(.acknowledge, by: Self.provider, "nothing", acknowledgement), "no placed claim nothing of node \(Self.consumer.prefix(12))"),
            (Self.operation(.end, by: Self.other, "job", .none), "node \(Self.other.prefix(12)) has no placed claim job"),
            (Self.operation(.stake, by: Self.other, "-", .none, amount: 0), "stake amounts are positive"),
        ]
        for (index, (operation, reason)) in cases.enumerated() {
            let before = ledger.mesh
            // Distinct sequence numbers: two operations with one digest count once.
            let numbered = HyperMeshConsensus.Operation(kind: operation.kind, proposer: -1, sequence: 100 + UInt64(index),
                                                        subject: operation.subject, amount: operation.amount, timestampMilliseconds: 0,
                                                        node: operation.node, payload: operation.payload)
            #expect(Self.apply(numbered, to: &ledger) == reason)
            #expect(ledger.mesh == before, "\(reason) changed the ledger")
        }
        #expect(Self.apply(Self.operation(.acknowledge, by: Self.provider, "job", acknowledgement), to: &ledger) == nil)
        #expect(Self.apply(Self.operation(.acknowledge, by: Self.provider, "job", acknowledgement, sequence: 1), to: &ledger)
            == "claim job is already acknowledged")
        // The mesh's minimum stake holds for node operations too.
        var staked = LedgerState()
        staked.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), minimumStake: 5)
        #expect(staked.rejected.first?.reason == "stake 0 of node \(Self.provider.prefix(12)) below the minimum 5")
        staked.apply(Self.operation(.stake, by: Self.provider, "-", .none, amount: 5), minimumStake: 5)
        staked.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer), sequence: 1), minimumStake: 5)
        #expect(staked.mesh.offers.count == 1 && staked.mesh.stakes[Self.provider] == 5)
        // Validator-indexed kinds are not the mesh's.
        var plain = LedgerState()
        plain.apply(HyperMeshConsensus.Operation(kind: .offer, proposer: 0, sequence: 1, subject: "p", amount: 0, timestampMilliseconds: 0,
                                                 payload: MeshTerms.offer(Self.offer).bytes), minimumStake: 0)
        #expect(plain.rejected.first?.reason == "a offer operation names no node")
    }

    @Test func onlyTheProviderEvictsAndTheReasonReachesTheConsumer() {
        var ledger = LedgerState()
        _ = Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger)
        _ = Self.apply(Self.place("job"), to: &ledger)
        let eviction = MeshTerms.acknowledgement(AcknowledgementTerms(consumer: Self.consumer, enforced: false, reason: "pool shrank"))
        #expect(Self.apply(Self.operation(.evict, by: Self.other, "job", eviction), to: &ledger) == "only the provider evicts claim job")
        #expect(Self.apply(Self.operation(.evict, by: Self.provider, "nothing", eviction), to: &ledger)
            == "no placed claim nothing of node \(Self.consumer.prefix(12))")
        #expect(Self.apply(Self.operation(.evict, by: Self.provider, "job", eviction), to: &ledger) == nil)
        #expect(ledger.mesh.placements.isEmpty)
        #expect(ledger.mesh.ended[MeshLedger.PlacementKey(consumer: Self.consumer, claim: "job")] == "Evicted: pool shrank")
        #expect(ledger.mesh.offers.first?.value.free == Self.offer.total)
    }

    @Test func anExpelledNodesOffersAndClaimsEndAndItsOperationsCountNoMore() {
        var ledger = LedgerState()
        _ = Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger)
        _ = Self.apply(Self.operation(.offer, by: Self.consumer, "own", .offer(Self.offer)), to: &ledger)
        _ = Self.apply(Self.place("job"), to: &ledger)
        _ = Self.apply(Self.place("back", by: Self.provider, pool: "own", provider: Self.consumer), to: &ledger)
        let expel = HyperMeshConsensus.Operation(kind: .expel, proposer: 0, sequence: 1, subject: Self.provider, amount: 0,
                                                 timestampMilliseconds: 0)
        #expect(Self.apply(expel, to: &ledger) == nil)
        #expect(ledger.mesh.expelled == [Self.provider])
        #expect(ledger.mesh.offers.keys.map(\.node) == [Self.consumer] && ledger.mesh.placements.isEmpty)
        #expect(ledger.mesh.ended[MeshLedger.PlacementKey(consumer: Self.consumer, claim: "job")] == "ProviderRemoved")
        #expect(ledger.mesh.ended[MeshLedger.PlacementKey(consumer: Self.provider, claim: "back")] == "ConsumerRemoved")
        #expect(ledger.mesh.offers.first?.value.free == Self.offer.total)
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer), sequence: 5), to: &ledger)
            == "node \(Self.provider.prefix(12)) was removed from the mesh")
        let again = HyperMeshConsensus.Operation(kind: .expel, proposer: 0, sequence: 2, subject: Self.provider, amount: 0,
                                                 timestampMilliseconds: 0)
        #expect(Self.apply(again, to: &ledger) == "node \(Self.provider.prefix(12)) is already removed")
        let short = HyperMeshConsensus.Operation(kind: .expel, proposer: 0, sequence: 3, subject: "abc", amount: 0, timestampMilliseconds: 0)
        #expect(Self.apply(short, to: &ledger) == "expel names a node id (64 hex digits)")
    }

    /// Two consumers race for the last core in every order: exactly one wins each time, the one ordered first.
    @Test func theLastCapacityGoesToExactlyOneOfTwoRacingClaims() {
        for round in 0..<20 {
            var ledger = LedgerState()
            _ = Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger)
            _ = Self.apply(Self.place("first", cpu: 1000), to: &ledger)
            let racers = [Self.place("race", by: Self.consumer, cpu: 1000), Self.place("race", by: Self.other, cpu: 1000)]
            let order = round % 2 == 0 ? racers : racers.reversed()
            let verdicts = order.map { Self.apply($0, to: &ledger) }
            #expect(verdicts[0] == nil && verdicts[1]?.hasPrefix("not enough free cpu") == true)
            #expect(ledger.mesh.placements.count == 2 && ledger.mesh.offers.first?.value.free.cpuMillis == 0)
        }
    }

    @Test func termsAndMeshOperationsOnTheWireRefuseWhatIsWrong() throws {
        for terms in [MeshTerms.offer(Self.offer), .placement(PlacementTerms(provider: Self.provider, pool: "gpu", amounts: Self.offer.total)),
                      .acknowledgement(AcknowledgementTerms(consumer: Self.consumer, enforced: false, reason: "full")),
                      .heartbeat(HeartbeatTerms(name: "box", address: "[::1]:9292")),
                      .placement(PlacementTerms(provider: Self.provider, pool: "gpu", amounts: Self.offer.total, leaseMilliseconds: 60_000))] {
            let kind: HyperMeshConsensus.Operation.Kind = switch terms {
            case .offer: .offer
            case .placement: .place
            case .heartbeat: .heartbeat
            default: .acknowledge
            }
            #expect(try MeshTerms.decode(terms.bytes, for: kind) == terms)
            #expect(throws: ConsensusWireError.self) { try MeshTerms.decode(Array(terms.bytes.dropLast()), for: kind) }
            #expect((try? MeshTerms.decode(terms.bytes + [0], for: kind)) == nil)
        }
        var badMarker = MeshTerms.acknowledgement(AcknowledgementTerms(consumer: "c", enforced: true)).bytes
        badMarker[8 + 1] = 7
        #expect(throws: ConsensusWireError(offset: 9, message: "acknowledgement outcome 7 is neither 0 nor 1")) {
            try MeshTerms.decode(badMarker, for: .acknowledge)
        }
        var negativeLease = MeshTerms.placement(PlacementTerms(provider: "p", pool: "q", amounts: .zero, leaseMilliseconds: 1)).bytes
        let leaseOffset = negativeLease.count - 8
        for index in leaseOffset..<negativeLease.count { negativeLease[index] = 0xff }
        #expect(throws: ConsensusWireError(offset: leaseOffset, message: "placement lease -1 ms is negative")) {
            try MeshTerms.decode(negativeLease, for: .place)
        }
        let longName = MeshTerms.heartbeat(HeartbeatTerms(name: String(repeating: "n", count: 64), address: "a:1")).bytes
        #expect(throws: ConsensusWireError.self) { try MeshTerms.decode(longName, for: .heartbeat) }
        #expect(try MeshTerms.decode([], for: .end) == MeshTerms.none)
        #expect(throws: ConsensusWireError.self) { try MeshTerms.decode([0], for: .withdraw) }

        let operation = Self.place("job")
        guard case .operations(let decoded) = try ConsensusWire.decodeMessage(ConsensusWire.encode(.operations([operation]))) else {
            Issue.record("not operations")
            return
        }
        #expect(decoded == [operation] && decoded[0].node == Self.consumer && decoded[0].terms == operation.terms)
        // A payload that does not decode for its kind, and a payload on a kind that carries none, are refused.
        let garbled = HyperMeshConsensus.Operation(kind: .place, proposer: -1, sequence: 1, subject: "j", amount: 0, timestampMilliseconds: 0,
                                                   node: Self.consumer, payload: [0, 0, 0, 0, 0, 0, 0, 99])
        #expect((try? ConsensusWire.decodeMessage(ConsensusWire.encode(.operations([garbled])))) == nil)
        let stray = HyperMeshConsensus.Operation(kind: .claim, proposer: 0, sequence: 1, subject: "j", amount: 1, timestampMilliseconds: 0,
                                                 payload: [1])
        #expect(throws: ConsensusWireError.self) { try ConsensusWire.decodeMessage(ConsensusWire.encode(.operations([stray]))) }
    }

    @Test func ledgerTimeIsTheMedianClockOfLiveNodesAndSilentNodesAreLost() {
        var ledger = LedgerState()
        let start: Int64 = 1_000_000
        for (node, name) in [(Self.provider, "a"), (Self.consumer, "b"), (Self.other, "c")] {
            #expect(Self.apply(Self.heartbeat(node, name, at: start), to: &ledger) == nil)
        }
        #expect(ledger.mesh.timeMilliseconds == start && ledger.mesh.members[Self.provider]?.name == "a")
        #expect(ledger.mesh.node(named: "b") == Self.consumer && ledger.mesh.node(named: "z") == nil)
        // One clock ten minutes fast moves ledger time no further than the median of the three.
        #expect(Self.apply(Self.heartbeat(Self.other, "c", at: start + 600_000), to: &ledger) == nil)
        #expect(ledger.mesh.timeMilliseconds == start)
        // The provider falls silent; the other two go on.
        for second in stride(from: Int64(3), through: 12, by: 3) {
            _ = Self.apply(Self.heartbeat(Self.consumer, "b", at: start + second * 1000), to: &ledger)
            _ = Self.apply(Self.heartbeat(Self.other, "c", at: start + 600_000 + second * 1000), to: &ledger)
        }
        #expect(!ledger.mesh.isLost(Self.provider))
        _ = Self.apply(Self.heartbeat(Self.consumer, "b", at: start + 13_000), to: &ledger)
        #expect(ledger.mesh.timeMilliseconds == start + 13_000)
        #expect(ledger.mesh.isLost(Self.provider) && !ledger.mesh.isLost(Self.consumer) && !ledger.mesh.isLost(Self.other))
        // Silent nodes stop counting: time goes on with the two live clocks (the faster of two).
        _ = Self.apply(Self.heartbeat(Self.consumer, "b", at: start + 16_000), to: &ledger)
        #expect(ledger.mesh.timeMilliseconds > start + 16_000)
        // Never heard of is not Lost; a heartbeat brings the provider back.
        #expect(!ledger.mesh.isLost(String(repeating: "d", count: 64)))
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: start + 17_000), to: &ledger)
        #expect(!ledger.mesh.isLost(Self.provider))
    }

    @Test func nothingIsPlacedOnALostProviderAndWhatIsPlacedStays() {
        var ledger = LedgerState()
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: 0), to: &ledger)
        _ = Self.apply(Self.heartbeat(Self.consumer, "b", at: 0), to: &ledger)
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger) == nil)
        #expect(Self.apply(Self.place("first"), to: &ledger) == nil)
        _ = Self.apply(Self.heartbeat(Self.consumer, "b", at: 13_000), to: &ledger)
        #expect(ledger.mesh.isLost(Self.provider))
        let refusal = Self.apply(Self.place("second", cpu: 500), to: &ledger)
        #expect(refusal == "provider node \(Self.provider.prefix(12)) is Lost (silent for 13 s of ledger time)")
        #expect(ledger.mesh.placements[MeshLedger.PlacementKey(consumer: Self.consumer, claim: "first")] != nil)
    }

    @Test func heartbeatsNameTheirNodeAndANameHasOneOwner() {
        var ledger = LedgerState()
        #expect(Self.apply(Self.heartbeat(Self.provider, "box", at: 0), to: &ledger) == nil)
        #expect(Self.apply(Self.heartbeat(Self.consumer, "box", at: 1), to: &ledger) == "name box belongs to node \(Self.provider.prefix(12))")
        let unnamed = Self.operation(.heartbeat, by: Self.consumer, "x", .heartbeat(HeartbeatTerms(name: "", address: "a:1")), at: 2)
        #expect(Self.apply(unnamed, to: &ledger) == "a heartbeat names its node")
        let nowhere = Self.operation(.heartbeat, by: Self.consumer, "x", .heartbeat(HeartbeatTerms(name: "x", address: "")), at: 3)
        #expect(Self.apply(nowhere, to: &ledger) == "a heartbeat says where its node listens")
        let wrongTerms = Self.operation(.heartbeat, by: Self.consumer, "x", .none, at: 4)
        #expect(Self.apply(wrongTerms, to: &ledger) != nil)
        // An expelled node's name is free again.
        ledger.apply(HyperMeshConsensus.Operation(kind: .expel, proposer: 0, sequence: 1, subject: Self.provider, amount: 0,
                                                  timestampMilliseconds: 0), minimumStake: 0)
        #expect(Self.apply(Self.heartbeat(Self.consumer, "box", at: 5), to: &ledger) == nil)
        #expect(ledger.mesh.node(named: "box") == Self.consumer)
    }

    @Test func aLeaseEndsByLedgerTime() {
        var ledger = LedgerState()
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: 10_000), to: &ledger)
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger) == nil)
        let leased = Self.operation(.place, by: Self.consumer, "job", .placement(PlacementTerms(
            provider: Self.provider, pool: "gpu", amounts: LedgerAmounts(cpuMillis: 1000, memoryBytes: 0), leaseMilliseconds: 5_000)))
        #expect(Self.apply(leased, to: &ledger) == nil)
        let key = MeshLedger.PlacementKey(consumer: Self.consumer, claim: "job")
        #expect(ledger.mesh.placements[key]?.expiresAtMilliseconds == 15_000)
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: 14_999), to: &ledger)
        #expect(ledger.mesh.placements[key] != nil)
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: 15_000), to: &ledger)
        #expect(ledger.mesh.placements[key] == nil && ledger.mesh.ended[key] == "LeaseExpired")
        #expect(ledger.mesh.offers[MeshLedger.OfferKey(node: Self.provider, pool: "gpu")]?.free == Self.offer.total)
    }

    @Test func aProviderThatCannotEnforceEverythingSaysSoInItsAcknowledgement() {
        var ledger = LedgerState()
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger) == nil)
        #expect(Self.apply(Self.place("job"), to: &ledger) == nil)
        let note = "EnforcementUnavailable: cgroups unavailable: no cgroup filesystem is mounted"
        #expect(Self.apply(Self.operation(.acknowledge, by: Self.provider, "job", .acknowledgement(
            AcknowledgementTerms(consumer: Self.consumer, enforced: true, reason: note))), to: &ledger) == nil)
        let placement = ledger.mesh.placements[MeshLedger.PlacementKey(consumer: Self.consumer, claim: "job")]
        #expect(placement?.state == .enforced && placement?.enforcementNote == note)
    }

    @Test func aClosingOfferTakesNoNewClaimsAndKeepsWhatItHas() {
        var ledger = LedgerState()
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: 5_000), to: &ledger)
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(Self.offer)), to: &ledger) == nil)
        #expect(Self.apply(Self.place("first"), to: &ledger) == nil)
        _ = Self.apply(Self.heartbeat(Self.provider, "a", at: 8_000), to: &ledger)
        var closing = Self.offer
        closing.maximumPerClaim = .zero
        #expect(Self.apply(Self.operation(.offer, by: Self.provider, "gpu", .offer(closing), sequence: 1), to: &ledger) == nil)
        let offer = ledger.mesh.offers[MeshLedger.OfferKey(node: Self.provider, pool: "gpu")]
        #expect(offer?.isClosing == true && offer?.termsTimeMilliseconds == 8_000 && offer?.placementCount == 1)
        #expect(Self.apply(Self.place("second", cpu: 500), to: &ledger) == "pool gpu of node \(Self.provider.prefix(12)) is being withdrawn")
        #expect(ledger.mesh.placements[MeshLedger.PlacementKey(consumer: Self.consumer, claim: "first")] != nil)
    }
}
