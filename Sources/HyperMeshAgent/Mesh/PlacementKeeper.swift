import Crypto
import Foundation
import HyperMeshConsensus
import HyperMeshControllers
import HyperMeshCore
import HyperMeshStore
import Logging
import ServiceLifecycle

/// The provider's half of a claim placed through the mesh ledger: every committed placement on this node's
/// offers becomes a local `Claim` (`mesh-CONSUMER-CLAIM`, consumer = the claiming node, in the apply set
/// ``applyset``), which the claim controller enforces like any other — cgroups, volume, GPU budget, and the
/// pool's own privacy rule again, groups included. Once it is Bound the keeper acknowledges it on the ledger
/// (the consumer's claim becomes Bound then); when it cannot bind, it says why and the placement ends. A
/// placement that ended (released by its consumer, the offer withdrawn) is pruned here, which frees it.
///
/// The owner stays in charge: when an offer holds less than is placed on it (the pool shrank), the newest
/// placements are evicted after the pool's `evictionGrace` (default 30 s) until the rest fit, with an event on
/// the local claim and the reason in the consumer's status.
public final class PlacementKeeper: Service, @unchecked Sendable {
    public static let applyset = "mesh-placements"
    static let interval: TimeInterval = 0.25
    /// A local claim still Pending this long after it was made is reported as not enforceable.
    static let bindingGrace: TimeInterval = 10

    private let ledger: any MeshLedgerAccess
    private let store: StateStore
    private let state: AgentState
    private let logger: Logger
    /// Acknowledgements handed in, by placement, so that each is sent once (again after a while, if it did not commit).
    private var acknowledged: [MeshLedger.PlacementKey: Date] = [:]
    private var appliedHeight: UInt64?
    /// Since when each of this node's offers holds less than what is placed on it (it shrank).
    private var overcommittedSince: [MeshLedger.OfferKey: Date] = [:]
    /// Evictions handed in, by placement.
    private var evicted: [MeshLedger.PlacementKey: Date] = [:]

    init(ledger: any MeshLedgerAccess, store: StateStore, state: AgentState, logger: Logger) {
        self.ledger = ledger
        self.store = store
        self.state = state
        self.logger = logger
    }

    public func run() async throws {
        let stop = StopFlag()
        await runBlocking(named: "mesh-placements", {
            while !stop.isSet {
                do { try self.keep() } catch { self.logger.warning("Placements not kept", metadata: ["error": "\(error)"]) }
                let deadline = Date().addingTimeInterval(Self.interval)
                while !stop.isSet && Date() < deadline { usleep(20_000) }
            }
        }, stop: { stop.set() })
    }

    /// The local claim's name for a placement: readable, unique, at most 63 characters.
    public static func localName(_ key: MeshLedger.PlacementKey) -> String {
        let name = "mesh-\(key.consumer.prefix(8))-\(key.claim)"
        guard name.count > 63 else { return name }
        let digest = Array(SHA256.hash(data: Array(key.claim.utf8))).prefix(4).hexString
        return "mesh-\(key.consumer.prefix(8))-\(key.claim.prefix(40))-\(digest)"
    }

    private func keep() throws {
        let committed = self.ledger.committed()
        let placements = committed.mesh.placements(onProvider: self.ledger.nodeID)
        if committed.height != self.appliedHeight {
            let desired = placements.map { key, placement in
                DesiredObject(key: ResourceKey(kind: .claim, name: Self.localName(key)), labels: ["hypermesh.io/placed": "true"],
                              spec: Self.spec(for: placement, consumer: key.consumer))
            }
            let changes = try self.store.apply(desired, options: ApplyOptions(applyset: Self.applyset, prune: true))
            let changed = changes.filter { $0.action != .unchanged }.map(\.key)
            if !changed.isEmpty {
                self.logger.info("Placements on this node changed", metadata: ["changed": "\(changed.count)", "placements": "\(placements.count)"])
                self.state.wake(changed)
            }
            self.appliedHeight = committed.height
        }
        let live = Set(placements.map(\.key))
        self.acknowledged = self.acknowledged.filter { live.contains($0.key) }
        self.evicted = self.evicted.filter { live.contains($0.key) }
        let now = Date()
        try self.evictWhereOvercommitted(committed, placements: placements, now: now)
        for (key, placement) in placements where placement.state == .placed {
            if let sent = self.acknowledged[key], now.timeIntervalSince(sent) < 10 { continue }
            guard let local = try self.store.object(ResourceKey(kind: .claim, name: Self.localName(key))),
                  local.status?.observedGeneration == local.generation else { continue }
            let fields = local.status?.fields ?? [:]
            let condition = local.status?.condition(Condition.ready)
            let terms: AcknowledgementTerms
            switch fields["phase"]?.stringValue {
            case "Bound":
                // Bound but not (fully) enforced here, e.g. no cgroup hierarchy: the consumer learns it from the ledger.
                let degraded = local.status?.condition(Condition.degraded).flatMap { $0.status == .true ? $0 : nil }
                terms = AcknowledgementTerms(consumer: key.consumer, enforced: true,
                                             reason: degraded.map { "\($0.reason): \($0.message)" } ?? "")
            case "Failed":
                terms = AcknowledgementTerms(consumer: key.consumer, enforced: false,
                                             reason: "\(condition?.reason ?? "Failed"): \(condition?.message ?? "")")
            default:
                guard now.timeIntervalSince(local.createdAt) > Self.bindingGrace else { continue }
                terms = AcknowledgementTerms(consumer: key.consumer, enforced: false,
                                             reason: "\(condition?.reason ?? "Pending"): \(condition?.message ?? "not bound")")
            }
            try self.ledger.submit(.acknowledge, subject: key.claim, terms: .acknowledgement(terms))
            self.acknowledged[key] = now
        }
    }

    private func evictWhereOvercommitted(_ committed: LedgerState, placements: [(key: MeshLedger.PlacementKey, placement: MeshLedger.Placement)],
                                         now: Date) throws {
        let mine = committed.mesh.offers.filter { $0.key.node == self.ledger.nodeID }
        self.overcommittedSince = self.overcommittedSince.filter { mine[$0.key] != nil }
        for (key, offer) in mine {
            guard !offer.claimed.exceeding(offer.terms.total).isEmpty else {
                self.overcommittedSince[key] = nil
                continue
            }
            let since = self.overcommittedSince[key] ?? now
            self.overcommittedSince[key] = since
            let pool = try self.store.object(ResourceKey(kind: .resourcePool, name: key.pool))
            let grace = pool?.spec["evictionGrace"]?.stringValue.flatMap { try? TimeSpan(parsing: $0) }.map(\.timeInterval)
                ?? ResourcePoolController.defaultEvictionGrace.timeInterval
            guard now.timeIntervalSince(since) >= grace else { continue }
            // Newest first, until what stays fits.
            var claimed = offer.claimed
            let onOffer = placements.filter { $0.placement.offer == key }.sorted { ($0.placement.height, $0.key) > ($1.placement.height, $1.key) }
            for (placementKey, placement) in onOffer {
                guard !claimed.exceeding(offer.terms.total).isEmpty else { break }
                claimed = claimed.subtracting(placement.terms.amounts)
                if let sent = self.evicted[placementKey], now.timeIntervalSince(sent) < 10 { continue }
                let reason = "pool \(key.pool) shrank below what is claimed of it (\(offer.terms.total) offered, \(offer.claimed) claimed); "
                    + "the newest claims go after \(Int(grace)) s"
                try self.ledger.submit(.evict, subject: placementKey.claim,
                                       terms: .acknowledgement(AcknowledgementTerms(consumer: placementKey.consumer, enforced: false, reason: reason)))
                self.evicted[placementKey] = now
                try? self.store.recordEvent(ResourceKey(kind: .claim, name: Self.localName(placementKey)), type: .warning, reason: "Evicted",
                                            message: reason)
                self.logger.info("Evicting a placed claim", metadata: ["claim": "\(placementKey.claim)",
                                                                       "consumer": "\(placementKey.consumer.prefix(12))", "pool": "\(key.pool)"])
            }
        }
    }

    /// The local claim's spec: the placement's pool and amounts, consumed by the claiming node.
    static func spec(for placement: MeshLedger.Placement, consumer: String) -> JSONValue {
        let amounts = ResourceAmounts(placement.terms.amounts)
        var spec: [String: JSONValue] = ["pool": .string(placement.terms.pool), "consumer": .string(consumer)]
        if amounts.cpu > .zero { spec["cpu"] = .string(amounts.cpu.description) }
        if amounts.memory > .zero { spec["memory"] = .string(amounts.memory.description) }
        if amounts.storage > .zero { spec["storage"] = .string(amounts.storage.description) }
        var gpu: [String: JSONValue] = [:]
        if amounts.gpuCount > 0 { gpu["count"] = .integer(amounts.gpuCount) }
        if amounts.gpuMemory > .zero { gpu["memory"] = .string(amounts.gpuMemory.description) }
        if !gpu.isEmpty { spec["gpu"] = .object(gpu) }
        return .object(spec)
    }
}
