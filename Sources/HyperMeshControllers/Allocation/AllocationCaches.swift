import Foundation
import HyperMeshAssets
import HyperMeshCore
import HyperMeshStore

/// A pool as the allocation controllers need it, parsed once per change of the pool.
struct PoolEntry: Sendable {
    var offer: PoolOffer
    var deleting: Bool
}

/// A claim as placement needs it, parsed once per change of the claim.
struct ClaimEntry: Sendable {
    var object: StoredObject
    var request: ClaimRequest
    var phase: String?
    /// What a Bound claim holds (its status' allocation), zero otherwise.
    var allocation: ResourceAmounts

    init(_ object: StoredObject) {
        self.object = object
        self.request = ClaimRequest(spec: object.spec)
        self.phase = object.status?.fields["phase"]?.stringValue
        self.allocation = self.phase == "Bound" ? ResourceAmounts(json: object.status?.fields["allocation"] ?? .null) : ResourceAmounts()
    }

    /// The group of claims placed on other nodes: no pool has this name (pool names are DNS labels).
    static let placedGroup = "node:"

    /// The pool a Bound claim is bound to.
    var boundPool: String? { self.phase == "Bound" ? self.object.status?.fields["pool"]?.stringValue : nil }
}

/// The caches the pool and claim controllers share: every pool and every claim (filed by pool), kept
/// current from the store's change feed, so one reconcile costs what changed and what its pool holds,
/// not what the whole store holds.
public final class AllocationCaches: Sendable {
    let pools = ObjectCache<PoolEntry>(kind: .resourcePool, entryFollowsSpecOnly: true) {
        PoolEntry(offer: PoolOffer(spec: $0.spec), deleting: $0.deletionRequestedAt != nil)
    }
    /// Claims filed by pool: a Bound claim under the pool its status names (where it holds capacity, even when
    /// its spec now names another), any other under the pool its spec names (where it waits).
    let claims = ObjectCache<ClaimEntry>(kind: .claim, group: { object in
        // Placed on another node: it holds nothing of this node's pools.
        if object.spec["node"] != nil { return ClaimEntry.placedGroup }
        let fields = object.status?.fields
        if fields?["phase"] == "Bound", let pool = fields?["pool"]?.stringValue { return pool }
        return ClaimRequest(spec: object.spec).pool
    }) { ClaimEntry($0) }
    let totals = OfferTotalsMemo()

    public init() {}
}

/// The host's usable cores and memory.
typealias HostFacts = (cpu: Quantity, memory: Quantity)

/// What all live pools offer together, recomputed only when a pool's spec changes (the pool cache's
/// `specVersion`), with the storage they offer per filesystem.
struct OfferTotals: Sendable {
    var specVersion: Int
    var facts: HostFacts
    var offered: ResourceAmounts
    /// Storage offered per filesystem id.
    var storageByFilesystem: [UInt64: Quantity]
}

final class OfferTotalsMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var current: OfferTotals?

    /// - Parameter facts: the host's usable cores and memory, which shares of the host (`cores: 50%`) resolve against.
    func totals(for snapshot: ObjectCache<PoolEntry>.Snapshot, facts: HostFacts, discovery: HostDiscovery) throws -> OfferTotals
    {
        if let hit = self.lock.withLock({ self.current.flatMap { $0.specVersion == snapshot.specVersion && $0.facts == facts ? $0 : nil } }) {
            return hit
        }
        var offered = ResourceAmounts()
        var storage: [UInt64: Quantity] = [:]
        var filesystems: [String: (id: UInt64, size: Quantity)] = [:]
        for entry in snapshot.entries.values where !entry.deleting {
            var filesystem: (id: UInt64, size: Quantity)?
            if let path = entry.offer.storagePath {
                if filesystems[path] == nil {
                    let found = try discovery.storage(at: path)
                    filesystems[path] = (found.filesystemID, Quantity(whole: found.totalBytes)!)
                }
                filesystem = filesystems[path]
            }
            let offer = entry.offer.resolved(cpu: facts.cpu, memory: facts.memory, storage: filesystem?.size)
            offered = offered.adding(offer.total)
            guard let filesystem else { continue }
            storage[filesystem.id] = (storage[filesystem.id] ?? .zero).adding(offer.total.storage) ?? storage[filesystem.id]
        }
        let totals = OfferTotals(specVersion: snapshot.specVersion, facts: facts, offered: offered, storageByFilesystem: storage)
        self.lock.withLock { self.current = totals }
        return totals
    }
}

/// CPU and memory facts of the host, read at most once a second: reconciling ten thousand pools should not
/// read `/proc/cpuinfo` ten thousand times.
final class HostFactsCache: @unchecked Sendable {
    static let maximumAge: TimeInterval = 1
    private let lock = NSLock()
    private var facts: (read: Date, cpu: Quantity, memory: Quantity)?

    func facts(from discovery: HostDiscovery) throws -> HostFacts {
        if let facts = self.lock.withLock({ self.facts }), -facts.read.timeIntervalSinceNow < Self.maximumAge {
            return (facts.cpu, facts.memory)
        }
        let cpu = try discovery.cpu().usableCores
        let memory = Quantity(whole: try discovery.memory().totalBytes)!
        self.lock.withLock { self.facts = (Date(), cpu, memory) }
        return (cpu, memory)
    }
}
