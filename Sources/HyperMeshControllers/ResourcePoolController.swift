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
    private let offers = OfferCache()

    public init(discovery: HostDiscovery = HostDiscovery(), gpus: @escaping @Sendable () throws -> [GPUDevice] = { try GPUDevices.discover() },
                gpuHealth: @escaping @Sendable (Int) throws -> Void = { try GPUDevices.healthCheck(deviceIndex: $0) })
    {
        self.discovery = discovery
        self.gpus = gpus
        self.gpuHealth = gpuHealth
    }

    public var kind: Kind { .resourcePool }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let offer = PoolOffer(spec: object.spec)
        let pools = try self.offers.offers(in: context.store)
        let offered = pools.reduce(ResourceAmounts()) { $0.adding($1.total) }
        let cpu = try self.discovery.cpu()
        let memory = try self.discovery.memory()
        var host = ResourceAmounts(cpu: cpu.usableCores, memory: Quantity(whole: memory.totalBytes)!)
        var excess: [String] = []
        if offered.cpu > host.cpu { excess.append("cpu \(offered.cpu) > \(host.cpu) usable cores") }
        if offered.memory > host.memory { excess.append("memory \(offered.memory) > \(host.memory)") }
        if let path = offer.storagePath {
            let storage = try self.discovery.storage(at: path)
            host.storage = Quantity(whole: storage.totalBytes)!
            // Pools on the same filesystem share it.
            let sameFilesystem = try pools.compactMap { other -> Quantity? in
                guard let otherPath = other.storagePath else { return nil }
                return try self.discovery.storage(at: otherPath).filesystemID == storage.filesystemID ? other.total.storage : nil
            }.reduce(Quantity.zero) { $0.adding($1) ?? $0 }
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
        let allocated = try ClaimStatus.allocated(inPool: object.key.name, except: nil, store: context.store)
        let claims = try context.store.objects(of: .claim).filter { ClaimRequest(spec: $0.spec).pool == object.key.name }
        let bound = try ClaimStatus.bound(inPool: object.key.name, store: context.store).count
        // Claims waiting for this pool get another look once it is reconciled.
        let waiting = claims.filter { $0.status?.fields["phase"] == nil || $0.status?.fields["phase"] == "Pending" }.map(\.key)
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
        return ReconcileResult(status: .ready(.true, reason: "Available", message: "\(bound) claim(s) bound", generation: object.generation,
                                              fields: fields), requeueAfter: .minutes(5), related: waiting)
    }

    /// Refuses while claims are bound to the pool; they must be released first.
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let bound = try ClaimStatus.bound(inPool: object.key.name, store: context.store).map(\.key.name)
        guard bound.isEmpty else {
            throw HyperMeshError.conflict("pool \(object.key.name) still has bound claims: \(bound.joined(separator: ", "))")
        }
        ControlGroup.removePool(object.key.name, hierarchy: CgroupHierarchy.detectHost())
    }
}

/// What every live pool offers, read once per change of any pool's spec rather than on every reconcile:
/// reconciling n pools would otherwise parse all n specs n times.
final class OfferCache: @unchecked Sendable {
    private let lock = NSLock()
    private var fingerprint: String?
    private var cached: [PoolOffer] = []

    func offers(in store: StateStore) throws -> [PoolOffer] {
        let current = try store.specFingerprint(of: .resourcePool)
        if let hit = self.lock.withLock({ self.fingerprint == current ? self.cached : nil }) { return hit }
        let offers = try store.objects(of: .resourcePool).filter { $0.deletionRequestedAt == nil }.map { PoolOffer(spec: $0.spec) }
        self.lock.withLock {
            self.fingerprint = current
            self.cached = offers
        }
        return offers
    }
}
