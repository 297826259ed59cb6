import Foundation
import HyperMeshAssets
import HyperMeshContainers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// Reconciles `Workload`: keeps `replicas` containers of its image running in its claim's cgroups, started by crun
/// beside a shim each (``ContainerRuntime``). Level-triggered from files: every pass reads each replica's files
/// (shim alive, container pid, exit status), so an agent restarted even by `kill -9` re-adopts what still runs and
/// never starts a second copy. An exited replica is restarted as `restartPolicy` says, after a back-off of 10 s
/// doubling to 5 min (reset once a run lasted 10 min); an exit by SIGKILL while the claim's OOM-kill counter rose
/// is `OOMKilled`. Deleting the Workload stops its containers (SIGTERM, `terminationGracePeriod`, SIGKILL) and
/// removes every process, mount and file; so does a claim that is no longer Bound.
public struct WorkloadController: Controller {
    let now: @Sendable () -> Date
    let hierarchy: @Sendable () -> CgroupHierarchy
    /// How often a running workload is looked at (exits are noticed this late at most).
    let pollInterval: TimeSpan

    public init(now: @escaping @Sendable () -> Date = { Date() },
                hierarchy: @escaping @Sendable () -> CgroupHierarchy = { CgroupHierarchy.host() },
                pollInterval: TimeSpan = TimeSpan(milliseconds: 1000))
    {
        self.now = now
        self.hierarchy = hierarchy
        self.pollInterval = pollInterval
    }

    public var kind: Kind { .workload }

    /// What a pass knows about the workload's surroundings.
    struct Placement {
        var runtime: ContainerRuntime
        var image: ImageRecord
        var lowerDirectories: [String]
        var claim: StoredObject
        var claimGroup: ControlGroup
        var storageDirectory: String?
        var node: String
    }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let spec = WorkloadSpec(spec: object.spec)
        let runtime = ContainerRuntime(stateDirectory: context.stateDirectory)
        var fields = object.status?.fields ?? [:]
        var replicas = Self.replicaStatuses(fields)
        let now = self.now()

        let placement: Placement
        switch try self.place(spec, object: object, runtime: runtime, fields: &fields, context: context) {
        case .success(let found):
            placement = found
        case .failure(let blocked):
            // Nothing can run: what runs is stopped (a claim released, an image gone), the rest waits.
            let stillRunning = try await self.stopAll(object, runtime: runtime, grace: spec.terminationGrace, context: context)
            for index in 0..<spec.replicas {
                var replica = replicas[index] ?? ReplicaStatus(index: index)
                replica.phase = blocked.terminal ? .failed : .pending
                replica.reason = blocked.reason
                replica.message = blocked.message
                replica.pid = nil
                replicas[index] = replica
            }
            return self.result(object, spec: spec, replicas: replicas, fields: fields, node: "",
                               requeue: stillRunning ? .seconds(1) : (blocked.terminal ? nil : .seconds(5)))
        }

        var requeue: TimeSpan? = nil
        for index in 0..<spec.replicas {
            var replica = replicas[index] ?? ReplicaStatus(index: index)
            let wait = try self.step(&replica, spec: spec, object: object, placement: placement, now: now, context: context)
            replicas[index] = replica
            if let wait { requeue = min(requeue ?? wait, wait) }
        }
        // Replicas beyond the count (it was lowered) are stopped and removed.
        for files in runtime.replicasOnDisk() where files.workload == object.key.name && files.index >= spec.replicas {
            if try self.stopStep(files, runtime: runtime, status: &replicas[files.index, default: ReplicaStatus(index: files.index)],
                                 grace: spec.terminationGrace, now: now)
            {
                replicas[files.index] = nil
            } else {
                requeue = min(requeue ?? .seconds(1), TimeSpan(milliseconds: 200))
            }
        }
        for index in replicas.keys where index >= spec.replicas && runtime.state(of: runtime.replica(workload: object.key.name, index: index)) == .absent {
            replicas[index] = nil
        }
        return self.result(object, spec: spec, replicas: replicas, fields: fields, node: placement.node, requeue: requeue)
    }

    // MARK: - Where it runs

    struct Blocked: Error {
        var reason: String
        var message: String
        /// Nothing will change it without a new spec (a Failed workload); else it is retried.
        var terminal: Bool
    }

    private func place(_ spec: WorkloadSpec, object: StoredObject, runtime: ContainerRuntime, fields: inout [String: JSONValue],
                       context: ReconcileContext) throws -> Result<Placement, Blocked>
    {
        if let reason = runtime.unavailableReason() {
            return .failure(Blocked(reason: "RuntimeUnavailable", message: reason, terminal: true))
        }
        guard let claim = try context.store.object(ResourceKey(kind: .claim, name: spec.claim)), claim.deletionRequestedAt == nil else {
            return .failure(Blocked(reason: "ClaimNotBound", message: "claim \(spec.claim) does not exist", terminal: false))
        }
        if let provider = claim.spec["node"]?.stringValue {
            return .failure(Blocked(reason: "ClaimNotBound", message: "claim \(spec.claim) is placed on node \(provider.prefix(16)); "
                + "this build runs workloads only in claims bound on this node", terminal: true))
        }
        guard claim.status?.fields["phase"] == "Bound", let pool = claim.status?.fields["pool"]?.stringValue else {
            let phase = claim.status?.fields["phase"]?.stringValue ?? "Pending"
            return .failure(Blocked(reason: "ClaimNotBound", message: "claim \(spec.claim) is \(phase), not Bound", terminal: false))
        }
        let storage = claim.status?.fields["storageDirectory"]?.stringValue
        if !spec.mounts.isEmpty, storage == nil {
            return .failure(Blocked(reason: "NoVolume", message: "mounts need storage, and claim \(spec.claim) has none", terminal: true))
        }
        let store = ImageStore(stateDirectory: context.stateDirectory)
        let image: ImageRecord
        do {
            if let file = spec.imageFile {
                image = try self.importOnce(file, object: object, store: store, fields: &fields, context: context)
            } else if let found = try store.resolve(spec.image) {
                image = found
            } else {
                return .failure(Blocked(reason: "ImageMissing", message: "no image \(spec.image) in this node's store "
                    + "(hypermesh image import PATH)", terminal: false))
            }
        } catch let error as HyperMeshError {
            return .failure(Blocked(reason: "ImageMissing", message: error.message, terminal: true))
        }
        fields["imageID"] = .string(image.id)
        let lower = try store.lowerDirectories(of: image)
        let node = (try? NodeIdentity.loadOrCreate(in: context.stateDirectory).identity.nodeID) ?? ""
        return .success(Placement(runtime: runtime, image: image, lowerDirectories: lower, claim: claim,
                                  claimGroup: ControlGroup.forClaim(spec.claim, pool: pool, hierarchy: self.hierarchy()),
                                  storageDirectory: storage, node: node))
    }

    /// `file:PATH` images are imported when the spec names them first (a new generation imports again).
    private func importOnce(_ path: String, object: StoredObject, store: ImageStore, fields: inout [String: JSONValue],
                            context: ReconcileContext) throws -> ImageRecord
    {
        if fields["imageImportedGeneration"]?.integerValue == object.generation, let id = fields["imageID"]?.stringValue,
           let record = try store.record(id: id)
        {
            return record
        }
        let record = try store.importImage(at: path, now: self.now())
        fields["imageImportedGeneration"] = .integer(object.generation)
        context.events.record(object.key, .normal, reason: "ImageImported", message: "\(path) imported as \(record.shortID)")
        return record
    }

    // MARK: - Status

    static func replicaStatuses(_ fields: [String: JSONValue]) -> [Int: ReplicaStatus] {
        var replicas: [Int: ReplicaStatus] = [:]
        for entry in fields["replicas"]?.arrayValue ?? [] {
            guard let index = entry["index"]?.integerValue.map(Int.init), index >= 0 else { continue }
            replicas[index] = ReplicaStatus(json: entry, index: index)
        }
        return replicas
    }

    private func result(_ object: StoredObject, spec: WorkloadSpec, replicas: [Int: ReplicaStatus], fields: [String: JSONValue],
                        node: String, requeue: TimeSpan?) -> ReconcileResult
    {
        var fields = fields
        let ordered = replicas.keys.sorted().map { replicas[$0]! }
        fields["replicas"] = .array(ordered.map { $0.json(node: node) })
        let wanted = ordered.filter { $0.index < spec.replicas }
        let running = wanted.filter { $0.phase == .running }.count
        let succeeded = wanted.filter { $0.phase == .succeeded }.count
        let phase: String
        if wanted.contains(where: { $0.phase == .failed }) { phase = "Failed" }
        else if spec.replicas > 0 && succeeded == spec.replicas { phase = "Succeeded" }
        else if running + succeeded == spec.replicas { phase = "Running" }
        else if wanted.contains(where: { $0.phase == .backOff }) { phase = "BackOff" }
        else if wanted.contains(where: { $0.phase == .starting || $0.phase == .running }) { phase = "Starting" }
        else { phase = "Pending" }
        fields["phase"] = .string(phase)
        fields["ready"] = .string("\(running)/\(spec.replicas)")
        fields["restarts"] = .integer(Int64(wanted.reduce(0) { $0 + $1.restarts }))
        if !node.isEmpty { fields["node"] = .string(node) }
        let problem = wanted.first { $0.phase == .failed || $0.phase == .backOff || $0.phase == .pending }
        let status: ObjectStatus
        switch phase {
        case "Running", "Succeeded":
            status = .ready(.true, reason: phase, message: "\(running) of \(spec.replicas) running, \(succeeded) succeeded",
                            generation: object.generation, fields: fields)
        case "Failed":
            status = .ready(.false, reason: problem?.reason ?? "Failed", message: problem?.message ?? "a replica failed",
                            generation: object.generation, fields: fields)
        default:
            status = .ready(.false, reason: problem?.reason ?? phase, message: problem?.message ?? "\(running) of \(spec.replicas) running",
                            generation: object.generation, fields: fields)
        }
        let needsPolling = wanted.contains { $0.phase == .running || $0.phase == .starting || $0.phase == .terminating }
        let poll = needsPolling ? self.pollInterval : nil
        let next = [requeue, poll].compactMap { $0 }.min()
        return ReconcileResult(status: status, requeueAfter: next, related: [])
    }
}
