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

    public init(discovery: HostDiscovery = HostDiscovery()) {
        self.discovery = discovery
    }

    public var kind: Kind { .resourcePool }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let offer = PoolOffer(spec: object.spec)
        let pools = try context.store.objects(of: .resourcePool).filter { $0.deletionRequestedAt == nil }
        let offered = pools.reduce(ResourceAmounts()) { $0.adding(PoolOffer(spec: $1.spec).total) }
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
            let sameFilesystem = try pools.compactMap { pool -> Quantity? in
                guard let other = PoolOffer(spec: pool.spec).storagePath else { return nil }
                return try self.discovery.storage(at: other).totalBytes == storage.totalBytes ? PoolOffer(spec: pool.spec).total.storage : nil
            }.reduce(Quantity.zero) { $0.adding($1) ?? $0 }
            if sameFilesystem > host.storage { excess.append("storage \(sameFilesystem) > \(host.storage) on \(path)'s filesystem") }
        }
        let allocated = try ClaimStatus.allocated(inPool: object.key.name, except: nil, store: context.store)
        let claims = try context.store.objects(of: .claim).filter { ClaimRequest(spec: $0.spec).pool == object.key.name }
        let bound = claims.filter { $0.status?.fields["phase"] == "Bound" }.count
        // Claims waiting for this pool get another look once it is reconciled.
        let waiting = claims.filter { $0.status?.fields["phase"] == nil || $0.status?.fields["phase"] == "Pending" }.map(\.key)
        let fields: [String: JSONValue] = [
            "capacity": offer.total.json, "allocated": allocated.json, "free": offer.total.subtracting(allocated).json,
            "boundClaims": .integer(Int64(bound)), "host": host.json,
        ]
        if !excess.isEmpty {
            var status = ObjectStatus.ready(.false, reason: "ExceedsHost", message: "pools offer more than this machine has: "
                + excess.joined(separator: "; "), generation: object.generation, fields: fields)
            status.setCondition(Condition(type: Condition.degraded, status: .true, reason: "ExceedsHost",
                                          message: excess.joined(separator: "; "), observedGeneration: object.generation))
            return ReconcileResult(status: status, requeueAfter: .minutes(5))
        }
        return ReconcileResult(status: .ready(.true, reason: "Available", message: "\(bound) claim(s) bound", generation: object.generation,
                                              fields: fields), requeueAfter: .minutes(5), related: waiting)
    }

    /// Refuses while claims are bound to the pool; they must be released first.
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let bound = try context.store.objects(of: .claim).filter {
            $0.status?.fields["phase"] == "Bound" && $0.status?.fields["pool"]?.stringValue == object.key.name
        }.map(\.key.name)
        guard bound.isEmpty else {
            throw HyperMeshError.conflict("pool \(object.key.name) still has bound claims: \(bound.joined(separator: ", "))")
        }
        ControlGroup.removePool(object.key.name, hierarchy: CgroupHierarchy.detectHost())
    }
}
