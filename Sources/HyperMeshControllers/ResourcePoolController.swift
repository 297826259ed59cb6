import Foundation
import HyperMeshAssets
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// Reconciles `ResourcePool`: checks what all pools offer against what the machine has
/// (`Degraded`, reason `ExceedsHost`, when they do not fit) and publishes capacity, allocated
/// and free. A pool with bound claims cannot go: its deletion waits (`Terminating`) until they are released.
public struct ResourcePoolController: Controller {
    let discovery: HostDiscovery
    let gpus: @Sendable () throws -> [GPUDevice]
    let gpuHealth: @Sendable (Int) throws -> Void
    let caches: AllocationCaches
    /// The mesh ledger, where pools that are not `private` are offered; `nil` outside an agent of a mesh.
    let ledger: (any MeshLedgerAccess)?
    private let hostFacts = HostFactsCache()

    /// - Parameter caches: shared with the ``ClaimController`` of the same reconciler (each keeps itself
    ///   current from the store, so separate ones are correct too, only slower).
    public init(discovery: HostDiscovery = HostDiscovery(), gpus: @escaping @Sendable () throws -> [GPUDevice] = { try GPUDevices.discover() },
                gpuHealth: @escaping @Sendable (Int) throws -> Void = { try GPUDevices.healthCheck(deviceIndex: $0) },
                caches: AllocationCaches = AllocationCaches(), ledger: (any MeshLedgerAccess)? = nil)
    {
        self.caches = caches
        self.ledger = ledger
        self.discovery = discovery
        self.gpus = gpus
        self.gpuHealth = gpuHealth
    }

    public var kind: Kind { .resourcePool }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let facts = try self.hostFacts.facts(from: self.discovery)
        let given = PoolOffer(spec: object.spec)
        let storage = try given.storagePath.map { try self.discovery.storage(at: $0) }
        let offer = given.resolved(cpu: facts.cpu, memory: facts.memory, storage: storage.map { Quantity(whole: $0.totalBytes)! })
        let totals = try self.caches.pools.withSnapshot(from: context.store) { pools in
            try self.caches.totals.totals(for: pools, facts: facts, discovery: self.discovery)
        }
        let offered = totals.offered
        var host = ResourceAmounts(cpu: facts.cpu, memory: facts.memory)
        var excess: [String] = []
        if offered.cpu > host.cpu { excess.append("cpu \(offered.cpu) > \(host.cpu) usable cores") }
        if offered.memory > host.memory { excess.append("memory \(offered.memory) > \(host.memory)") }
        if let path = offer.storagePath, let storage {
            host.storage = Quantity(whole: storage.totalBytes)!
            // Pools on the same filesystem share it.
            let sameFilesystem = totals.storageByFilesystem[storage.filesystemID] ?? offer.total.storage
            if sameFilesystem > host.storage { excess.append("storage \(sameFilesystem) > \(host.storage) on \(path)'s filesystem") }
        }
        var gpuFields: [JSONValue] = []
        var gpuProblems: [String] = []
        if !offer.gpuDevices.isEmpty {
            let devices = try self.gpus()
            var gpuMemory: Int64 = 0
            for reference in offer.gpuDevices {
                guard let device = devices.first(where: { $0.matches(reference) }) else {
                    gpuProblems.append("GPU \(reference) not found (Vulkan lists \(devices.count) device(s))")
                    continue
                }
                gpuMemory += device.memoryBytes
                do {
                    try self.gpuHealth(device.index)
                    gpuFields.append(["device": .string(reference), "name": .string(device.name), "uuid": .string(device.uuid), "healthy": true])
                } catch let error as HyperMeshError {
                    gpuProblems.append("GPU \(reference) failed its compute health check: \(error.message)")
                    gpuFields.append(["device": .string(reference), "name": .string(device.name), "uuid": .string(device.uuid), "healthy": false])
                }
            }
            host.gpuMemory = Quantity(whole: gpuMemory)!
            host.gpuCount = Int64(devices.count)
            if offer.total.gpuMemory > host.gpuMemory { excess.append("gpu memory \(offer.total.gpuMemory) > \(host.gpuMemory) on the devices") }
        }
        let pool = object.key.name
        let (allocated, bound, waiting) = try self.caches.claims.withSnapshot(from: context.store) { claims in
            let entries = claims.entries(inGroup: pool)
            let held = ClaimStatus.bound(inPool: pool, entries: entries)
            // Claims waiting for this pool get another look once it is reconciled.
            let waiting = entries.filter { $0.request.pool == pool && ($0.phase == nil || $0.phase == "Pending") }.map(\.object.key)
            return (held.reduce(ResourceAmounts()) { $0.adding($1.allocation) }, held.count, waiting)
        }
        var fields: [String: JSONValue] = [
            "capacity": offer.total.json, "allocated": allocated.json, "free": offer.total.subtracting(allocated).json,
            "boundClaims": .integer(Int64(bound)), "host": host.json,
        ]
        if !gpuFields.isEmpty { fields["gpus"] = .array(gpuFields) }
        if !excess.isEmpty || !gpuProblems.isEmpty {
            let reason = excess.isEmpty ? "GPUUnavailable" : "ExceedsHost"
            let message = (excess.isEmpty ? "" : "pools offer more than this machine has: ") + (excess + gpuProblems).joined(separator: "; ")
            var status = ObjectStatus.ready(.false, reason: reason, message: message, generation: object.generation, fields: fields)
            status.setCondition(Condition(type: Condition.degraded, status: .true, reason: reason, message: message,
                                          observedGeneration: object.generation))
            return ReconcileResult(status: status, requeueAfter: .minutes(5))
        }
        var requeue = TimeSpan.minutes(5)
        if let ledger {
            let (field, soon) = try self.reconcileOffer(of: object, offer: offer, ledger: ledger, now: Date())
            fields["offer"] = field
            if let soon { requeue = min(requeue, soon) }
        }
        return ReconcileResult(status: .ready(.true, reason: "Available", message: "\(bound) claim(s) bound", generation: object.generation,
                                              fields: fields), requeueAfter: requeue, related: waiting)
    }

    /// Waits (``CleanupWaiting``) while claims are bound to the pool; they must be released first.
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let pool = object.key.name
        let bound = try self.caches.claims.withSnapshot(from: context.store) { claims in
            ClaimStatus.bound(inPool: pool, entries: claims.entries(inGroup: pool)).map(\.object.key).sorted()
        }
        guard bound.isEmpty else {
            throw CleanupWaiting("pool \(object.key.name) waits for its bound claims to be released: "
                + bound.map(\.name).joined(separator: ", "), waitingFor: bound)
        }
        if let ledger { try self.withdrawOffer(of: object, ledger: ledger) }
        ControlGroup.removePool(object.key.name, hierarchy: CgroupHierarchy.host())
    }
}

