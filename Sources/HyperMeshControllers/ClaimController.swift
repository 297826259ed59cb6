import Foundation
import HyperMeshAssets
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// Reconciles `Claim`: places it in its pool when privacy, `maxPerClaim` and free capacity
/// allow, and makes the allocation real — a cgroup `hypermesh/<pool>/<claim>` with the CPU and
/// memory limits, a loop-mounted ext4 volume of the claimed size under the pool's storage path,
/// a GPU memory budget. A claim that does not fit stays `Pending` (reason
/// `InsufficientCapacity`) and binds by itself once capacity frees — claims of a pool bind in
/// the order they were made (creation time, whole seconds, then name), so a younger claim does
/// not take what an older one waits for; a lease (`duration`) is
/// released when it ends. Deleting a claim releases everything before the object goes.
public struct ClaimController: Controller {
    let now: @Sendable () -> Date
    let hierarchy: @Sendable () -> CgroupHierarchy
    let caches: AllocationCaches
    /// The mesh ledger, through which claims with `spec.node` are placed; `nil` outside an agent of a mesh.
    let ledger: (any MeshLedgerAccess)?

    /// - Parameter caches: shared with the ``ResourcePoolController`` of the same reconciler.
    public init(now: @escaping @Sendable () -> Date = { Date() },
                hierarchy: @escaping @Sendable () -> CgroupHierarchy = { CgroupHierarchy.host() },
                caches: AllocationCaches = AllocationCaches(), ledger: (any MeshLedgerAccess)? = nil)
    {
        self.caches = caches
        self.ledger = ledger
        self.now = now
        self.hierarchy = hierarchy
    }

    public var kind: Kind { .claim }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let request = ClaimRequest(spec: object.spec)
        let poolKey = ResourceKey(kind: .resourcePool, name: request.pool)
        let previous = object.status?.fields ?? [:]
        let generation = object.generation
        let now = self.now()
        if let provider = request.node {
            return try self.reconcilePlaced(object, request: request, provider: provider, context: context, now: now)
        }

        if previous["phase"] == "Released" && previous["allocatedGeneration"]?.integerValue == generation {
            return ReconcileResult(status: ClaimStatus.released(previous, reason: previous["releaseReason"]?.stringValue ?? "LeaseExpired",
                                                                generation: generation))
        }
        if previous["phase"] == "Bound", previous["allocatedGeneration"]?.integerValue == generation {
            if let expiry = previous["leaseExpiresAt"]?.stringValue.flatMap(Timestamp.parse), now >= expiry {
                try self.release(object, context: context)
                context.events.record(object.key, .normal, reason: "LeaseExpired", message: "lease ended at \(Timestamp.format(expiry)); released")
                return ReconcileResult(status: ClaimStatus.released(previous, reason: "LeaseExpired", generation: generation), related: [poolKey])
            }
            return try self.verifyBound(object, previous: previous, context: context, now: now)
        }
        if previous["phase"] == "Bound" {
            try self.release(object, context: context)  // the spec changed: place it again
        }

        guard let poolObject = try context.store.object(poolKey), poolObject.deletionRequestedAt == nil else {
            return ReconcileResult(status: ClaimStatus.pending(reason: "PoolNotFound", message: "pool \(request.pool) does not exist",
                                                               generation: generation), requeueAfter: .seconds(30))
        }
        guard poolObject.readiness == .true else {
            let reason = poolObject.status?.condition(Condition.ready)?.reason ?? "NotReconciled"
            return ReconcileResult(status: ClaimStatus.pending(reason: "PoolNotReady", message: "pool \(request.pool) is not Ready (\(reason))",
                                                               generation: generation), requeueAfter: .seconds(30))
        }
        // Shares of the host (`cores: 50%`) as the pool resolved and published them.
        let offer = PoolOffer(spec: poolObject.spec).resolved(publishedCapacity: ResourceAmounts(json: poolObject.status?.fields["capacity"] ?? .null))
        let localNode = try NodeIdentity.loadOrCreate(in: context.stateDirectory).identity.nodeID
        let consumer = request.consumer ?? localNode
        guard PrivacyRule.permits(consumer: consumer, privacy: offer.privacy, allow: offer.allow, localNode: localNode) else {
            return ReconcileResult(status: ClaimStatus.failed(reason: "PrivacyDenied",
                                                              message: "pool \(request.pool) is \(offer.privacy); \(consumer) may not claim from it",
                                                              generation: generation))
        }
        let notOffered = request.amounts.exceeding(offer.total).filter { name in
            offer.total.byName.first { $0.0 == name }?.1 == .zero
        }
        if !notOffered.isEmpty {
            return ReconcileResult(status: ClaimStatus.failed(reason: "ResourceNotOffered",
                                                              message: "pool \(request.pool) offers no \(notOffered.joined(separator: ", "))",
                                                              generation: generation))
        }
        let overLimit = request.amounts.exceeding(offer.maximumPerClaim)
        if !overLimit.isEmpty {
            return ReconcileResult(status: ClaimStatus.failed(reason: "ExceedsMaxPerClaim",
                                                              message: "\(overLimit.joined(separator: ", ")) above the pool's maxPerClaim",
                                                              generation: generation))
        }
        return try await PlacementLock.shared.withLock {
            // The pool's claims as stored now (the cache reads what changed since the last placement).
            let (allocated, ahead) = try self.caches.claims.withSnapshot(from: context.store) { claims in
                let entries = claims.entries(inGroup: request.pool)
                // Claims waiting longer come first: what they ask is held back for them, so a
                // stream of small claims cannot starve a large one, and which of two claims made
                // together binds does not depend on which worker gets there first.
                return (ClaimStatus.allocated(inPool: request.pool, except: object.key, entries: entries),
                        ClaimStatus.waiting(inPool: request.pool, before: object, offer: offer, entries: entries))
            }
            let free = offer.total.subtracting(allocated).subtracting(
                ahead.reduce(ResourceAmounts()) { $0.adding($1.request.amounts) })
            let short = request.amounts.exceeding(free)
            guard short.isEmpty else {
                var message = "not enough free \(short.joined(separator: ", ")) in pool \(request.pool)"
                if !ahead.isEmpty { message += " (claims waiting longer come first: \(ahead.map(\.object.key.name).joined(separator: ", ")))" }
                return ReconcileResult(status: ClaimStatus.pending(reason: "InsufficientCapacity", message: message, generation: generation),
                                       requeueAfter: .seconds(10))
            }
            let result = try self.bind(object, request: request, offer: offer, consumer: consumer, context: context, now: now, poolKey: poolKey)
            // Stored before the lock is let go, so the next placement counts this claim.
            var placed = result.status
            placed.observedGeneration = object.generation
            _ = try context.store.updateStatus(object.key, to: placed, nextReconcileAt: nil)
            return result
        }
    }

    private func bind(_ object: StoredObject, request: ClaimRequest, offer: PoolOffer, consumer: String, context: ReconcileContext,
                      now: Date, poolKey: ResourceKey) throws -> ReconcileResult
    {
        var problems: [(String, String)] = []
        var fields: [String: JSONValue] = [
            "phase": "Bound", "pool": .string(request.pool), "consumer": .string(consumer), "allocation": request.amounts.json,
            "boundAt": .string(Timestamp.format(now)), "allocatedGeneration": .integer(object.generation),
        ]
        if let duration = request.duration {
            fields["leaseExpiresAt"] = .string(Timestamp.format(now.addingTimeInterval(duration.timeInterval)))
        }
        var cgroups: [JSONValue] = []
        for (adapter, amount) in self.adapters(for: request.amounts, storagePath: offer.storagePath) {
            let assetRequest = AssetRequest(pool: request.pool, claim: object.key.name, amount: amount, storagePath: offer.storagePath,
                                            devices: adapter.kind == .gpu ? Array(offer.gpuDevices.prefix(Int(request.amounts.gpuCount))) : [])
            let grant = try adapter.allocate(assetRequest)
            for (name, value) in grant.details {
                if name == "cgroups" { cgroups += value.arrayValue ?? [] } else { fields[name] = value }
            }
            if let unenforced = grant.unenforced { problems.append((unenforced.reason, unenforced.message)) }
        }
        if !cgroups.isEmpty {
            fields["cgroups"] = .array(cgroups)
            // A group adopted from the pool's spares keeps its counters (the kernel cannot reset
            // oom_kill): usage is reported from this baseline on.
            let groups = self.cgroupGroups(claim: object.key.name, pool: request.pool, amounts: request.amounts)
            if let usage = try? self.cgroupUsage(of: groups, claim: object.key.name, pool: request.pool) {
                fields["usageBaseline"] = usage.json
                fields["usage"] = ResourceUsage(cpuNanoseconds: 0, throttledPeriods: 0, memoryBytes: usage.memoryBytes, oomKills: 0).json
            }
        }
        context.events.record(object.key, .normal, reason: "Bound", message: "bound to pool \(request.pool)")
        for (reason, message) in problems { context.events.record(object.key, .warning, reason: reason, message: message) }
        return ReconcileResult(status: ClaimStatus.bound(fields: fields, problems: problems, generation: object.generation),
                               requeueAfter: self.nextCheck(fields: fields, now: now), related: [poolKey])
    }

    /// A bound claim: re-create a cgroup that vanished, report usage, count OOM kills.
    private func verifyBound(_ object: StoredObject, previous: [String: JSONValue], context: ReconcileContext, now: Date) throws -> ReconcileResult {
        var fields = previous
        let request = ClaimRequest(spec: object.spec)
        if previous["cgroups"] != nil {
            let groups = self.cgroupGroups(claim: object.key.name, pool: request.pool, amounts: request.amounts)
            for (adapter, assetRequest, group) in groups where !group.exists {
                _ = try adapter.allocate(assetRequest)
                context.events.record(object.key, .warning, reason: "CgroupRecreated", message: "the claim's \(adapter.kind) cgroup was missing")
            }
            let raw = try self.cgroupUsage(of: groups, claim: object.key.name, pool: request.pool)
            let baseline = previous["usageBaseline"]
            func since(_ key: String, _ value: Int64) -> Int64 { max(0, value - (baseline?[key]?.integerValue ?? 0)) }
            let usage = ResourceUsage(cpuNanoseconds: since("cpuNanoseconds", raw.cpuNanoseconds),
                                      throttledPeriods: since("throttledPeriods", raw.throttledPeriods),
                                      memoryBytes: raw.memoryBytes, oomKills: since("oomKills", raw.oomKills))
            let before = previous["usage"]?["oomKills"]?.integerValue ?? 0
            if usage.oomKills > before {
                context.events.record(object.key, .warning, reason: "OOMKilled",
                                      message: "\(usage.oomKills - before) process(es) killed for exceeding memory \(request.amounts.memory)")
            }
            fields["usage"] = usage.json
        }
        let problems = (object.status?.conditions ?? []).filter { $0.type == Condition.degraded && $0.status == .true }
            .map { ($0.reason, $0.message) }
        return ReconcileResult(status: ClaimStatus.bound(fields: fields, problems: problems, generation: object.generation),
                               requeueAfter: self.nextCheck(fields: fields, now: now))
    }

    private func nextCheck(fields: [String: JSONValue], now: Date) -> TimeSpan {
        var wait = TimeSpan.minutes(1)
        if let expiry = fields["leaseExpiresAt"]?.stringValue.flatMap(Timestamp.parse) {
            wait = min(wait, TimeSpan(milliseconds: max(1000, Int64(expiry.timeIntervalSince(now) * 1000))))
        }
        return wait
    }

    /// The claim's CPU and memory adapters, each with its request and its group: the one place
    /// that knows which controllers a claim's groups live in.
    func cgroupGroups(claim: String, pool: String, amounts: ResourceAmounts)
        -> [(adapter: any AssetAdapter, request: AssetRequest, group: ControlGroup)]
    {
        let hierarchy = self.hierarchy()
        var groups: [(adapter: any AssetAdapter, request: AssetRequest, group: ControlGroup)] = []
        if amounts.cpu > .zero {
            let request = AssetRequest(pool: pool, claim: claim, amount: amounts.cpu)
            let adapter = CPUAdapter(hierarchy: hierarchy)
            groups.append((adapter, request, adapter.group(request)))
        }
        if amounts.memory > .zero {
            let request = AssetRequest(pool: pool, claim: claim, amount: amounts.memory)
            let adapter = MemoryAdapter(hierarchy: hierarchy)
            groups.append((adapter, request, adapter.group(request)))
        }
        return groups
    }

    /// CPU and memory usage across a claim's groups.
    func cgroupUsage(of groups: [(adapter: any AssetAdapter, request: AssetRequest, group: ControlGroup)], claim: String,
                     pool: String) throws -> ResourceUsage
    {
        let controllers = groups.flatMap(\.group.controllers)
        return try ControlGroup.forClaim(claim, pool: pool, hierarchy: self.hierarchy(), controllers: controllers).usage()
    }

    /// The adapters a claim's amounts need, with the amount for each.
    func adapters(for amounts: ResourceAmounts, storagePath: String?) -> [(any AssetAdapter, Quantity)] {
        let hierarchy = self.hierarchy()
        var adapters: [(any AssetAdapter, Quantity)] = []
        if amounts.cpu > .zero { adapters.append((CPUAdapter(hierarchy: hierarchy), amounts.cpu)) }
        if amounts.memory > .zero { adapters.append((MemoryAdapter(hierarchy: hierarchy), amounts.memory)) }
        if amounts.storage > .zero, let storagePath { adapters.append((StorageAdapter(path: storagePath), amounts.storage)) }
        if amounts.gpuCount > 0 { adapters.append((GPUAdapter(), amounts.gpuMemory)) }
        return adapters
    }

    /// Releases everything the claim holds, through the same adapters: processes in its cgroups
    /// are killed and the groups removed, its volume unmounted and deleted, its GPU budget returned.
    func release(_ object: StoredObject, context: ReconcileContext) throws {
        let fields = object.status?.fields ?? [:]
        guard fields["phase"] == "Bound" || fields["cgroups"] != nil || fields["storageDirectory"] != nil else { return }
        // What was granted, not what the spec says now (it may have changed since).
        let granted = fields["allocation"].map(ResourceAmounts.init(json:)) ?? ClaimRequest(spec: object.spec).amounts
        let pool = fields["pool"]?.stringValue ?? ClaimRequest(spec: object.spec).pool
        let storagePath = fields["storageDirectory"]?.stringValue.map { ($0 as NSString).deletingLastPathComponent }
        // Containers of workloads live in child groups of the claim's: they go first.
        WorkloadController.killContainers(inClaim: object.key.name, stateDirectory: context.stateDirectory, store: context.store)
        for (adapter, amount) in self.adapters(for: granted, storagePath: storagePath) {
            try adapter.release(AssetRequest(pool: pool, claim: object.key.name, amount: amount, storagePath: storagePath))
        }
    }

    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        if object.spec["node"] != nil { return try self.endPlacement(object) }
        try await WorkloadController.stopContainers(inClaim: object.key.name, context: context)
        try self.release(object, context: context)
        context.events.record(object.key, .normal, reason: "Released", message: "cgroups removed, storage unmounted, GPU budget returned")
    }
}

/// Status shapes of a claim, and what the bound claims of a pool hold.
enum ClaimStatus {
    static func pending(reason: String, message: String, generation: Int64) -> ObjectStatus {
        var status = ObjectStatus.ready(.false, reason: reason, message: message, generation: generation, fields: ["phase": "Pending"])
        status.setCondition(Condition(type: Condition.progressing, status: .true, reason: reason, message: message, observedGeneration: generation))
        return status
    }

    static func failed(reason: String, message: String, generation: Int64) -> ObjectStatus {
        var status = ObjectStatus.ready(.false, reason: reason, message: message, generation: generation, fields: ["phase": "Failed"])
        status.setCondition(Condition(type: Condition.degraded, status: .true, reason: reason, message: message, observedGeneration: generation))
        return status
    }

    static func released(_ previous: [String: JSONValue], reason: String, generation: Int64) -> ObjectStatus {
        var fields = previous
        fields["phase"] = "Released"
        fields["releaseReason"] = .string(reason)
        fields["cgroups"] = nil
        return ObjectStatus.ready(.false, reason: reason, message: "the claim was released", generation: generation, fields: fields)
    }

    static func bound(fields: [String: JSONValue], problems: [(String, String)], generation: Int64) -> ObjectStatus {
        var status = ObjectStatus.ready(.true, reason: "Bound", message: "bound to pool \(fields["pool"]?.stringValue ?? "")",
                                        generation: generation, fields: fields)
        if let problem = problems.first {
            status.setCondition(Condition(type: Condition.degraded, status: .true, reason: problem.0,
                                          message: problems.map(\.1).joined(separator: "; "), observedGeneration: generation))
        }
        return status
    }

    /// The claims among `entries` bound to `pool`.
    static func bound(inPool pool: String, entries: [ClaimEntry]) -> [ClaimEntry] {
        entries.filter { $0.boundPool == pool }
    }

    /// The claims of `pool` made before `claim` (by creation time, then name) that still wait to
    /// bind and could bind in it: not bound, failed or released at their generation, not being
    /// deleted, and asking no more than the pool offers in all and per claim.
    static func waiting(inPool pool: String, before claim: StoredObject, offer: PoolOffer, entries: [ClaimEntry]) -> [ClaimEntry] {
        func precedes(_ a: StoredObject, _ b: StoredObject) -> Bool {
            (a.createdAt, a.key.name) < (b.createdAt, b.key.name)
        }
        return entries.filter { entry in
            let other = entry.object
            guard other.key != claim.key, precedes(other, claim), other.deletionRequestedAt == nil else { return false }
            guard entry.request.pool == pool, entry.request.amounts.exceeding(offer.total).isEmpty,
                  entry.request.amounts.exceeding(offer.maximumPerClaim).isEmpty else { return false }
            switch entry.phase {
            case "Bound": return false
            case "Failed": return other.status?.observedGeneration != other.generation
            case "Released": return other.status?.fields["allocatedGeneration"]?.integerValue != other.generation
            default: return true
            }
        }.sorted { precedes($0.object, $1.object) }
    }

    /// The sum of what the Bound claims of `pool` among `entries` hold, other than `except`.
    static func allocated(inPool pool: String, except: ResourceKey?, entries: [ClaimEntry]) -> ResourceAmounts {
        self.bound(inPool: pool, entries: entries).filter { $0.object.key != except }
            .reduce(ResourceAmounts()) { $0.adding($1.allocation) }
    }
}
