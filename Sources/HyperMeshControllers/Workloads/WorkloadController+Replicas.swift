import Foundation
import HyperMeshAssets
import HyperMeshContainers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

extension WorkloadController {
    // MARK: - One replica

    /// Moves one replica a step toward running its spec, from what its files say; returns when to look again.
    func step(_ replica: inout ReplicaStatus, spec: WorkloadSpec, object: StoredObject, placement: Placement, now: Date,
              context: ReconcileContext) throws -> TimeSpan?
    {
        let runtime = placement.runtime
        let files = runtime.replica(workload: object.key.name, index: replica.index)
        let state = runtime.state(of: files)
        replica.containerID = files.containerID
        // A new spec or image: the running container makes way for one of the new spec.
        let outdated = replica.generation != nil && (replica.generation != object.generation || replica.imageID != placement.image.id)
        switch state {
        case .running, .starting:
            if outdated {
                if try self.stopStep(files, runtime: runtime, status: &replica, grace: spec.terminationGrace, now: now) {
                    return try self.start(&replica, files: files, spec: spec, object: object, placement: placement, now: now, context: context)
                }
                return TimeSpan(milliseconds: 200)
            }
            if case .running(let pid) = state {
                if replica.phase != .running {
                    context.events.record(object.key, .normal, reason: "Started", message: "replica \(replica.index) runs as pid \(pid)")
                }
                replica.phase = .running
                replica.pid = pid
                replica.reason = nil
                replica.message = nil
                return nil
            }
            replica.phase = .starting
            return TimeSpan(milliseconds: 50)
        case .exited(let exit):
            if outdated {
                try runtime.remove(files)
                replica.backOffStep = 0
                replica.nextStartAt = nil
                return try self.start(&replica, files: files, spec: spec, object: object, placement: placement, now: now, context: context)
            }
            if !replica.exitRecorded {
                self.recordExit(&replica, exit: exit, files: files, spec: spec, placement: placement, object: object, context: context)
                try runtime.remove(files, keepingLogs: true)
            }
            guard let next = replica.nextStartAt else { return nil }  // ended for good: Succeeded or Failed
            if now >= next {
                replica.restarts += 1
                return try self.start(&replica, files: files, spec: spec, object: object, placement: placement, now: now, context: context)
            }
            replica.phase = .backOff
            return TimeSpan(milliseconds: max(10, Int64(next.timeIntervalSince(now) * 1000)))
        case .lost:
            let lost = ExitRecord(exitCode: -1, finishedAt: now, startError: nil)
            self.recordExit(&replica, exit: lost, files: files, spec: spec, placement: placement, object: object, context: context)
            try runtime.remove(files, keepingLogs: true)
            return TimeSpan(milliseconds: 10)
        case .absent:
            if let next = replica.nextStartAt, now < next {
                replica.phase = .backOff
                return TimeSpan(milliseconds: max(10, Int64(next.timeIntervalSince(now) * 1000)))
            }
            if replica.exitRecorded && replica.nextStartAt == nil && !outdated { return nil }
            if replica.exitRecorded { replica.restarts += 1 }
            return try self.start(&replica, files: files, spec: spec, object: object, placement: placement, now: now, context: context)
        }
    }

    private func start(_ replica: inout ReplicaStatus, files: ReplicaFiles, spec: WorkloadSpec, object: StoredObject,
                       placement: Placement, now: Date, context: ReconcileContext) throws -> TimeSpan?
    {
        let arguments = spec.arguments(image: placement.image)
        guard !arguments.isEmpty else {
            replica.failToStart("neither the spec nor the image names a command")
            return nil
        }
        var mounts: [BundleConfiguration.BindMount] = []
        for mount in spec.mounts {
            guard let storage = placement.storageDirectory else { continue }
            let source = mount.subPath.map { storage + "/" + $0 } ?? storage
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            mounts.append(.init(source: source, destination: mount.path, readOnly: mount.readOnly))
        }
        let identity: (uid: UInt32, gid: UInt32)
        do {
            identity = try spec.identity(image: placement.image, lowerDirectories: placement.lowerDirectories)
        } catch let error as HyperMeshError {
            replica.failToStart(error.message)
            return nil
        }
        let environment = spec.environment(image: placement.image, extra: [
            ("HYPERMESH_WORKLOAD", object.key.name), ("HYPERMESH_REPLICA", String(replica.index)), ("HYPERMESH_CLAIM", spec.claim),
        ])
        let cgroupsPath = "/" + placement.claimGroup.components.joined(separator: "/") + "/" + files.containerID
        let oomEvents: String?
        switch placement.claimGroup.hierarchy {
        case .v1(let mounts): oomEvents = mounts["memory"].map { $0 + cgroupsPath + "/memory.oom_control" }
        case .v2(let root): oomEvents = root + cgroupsPath + "/memory.events"
        case .unavailable: oomEvents = nil
        }
        let configuration = BundleConfiguration(
            arguments: arguments, environment: environment,
            workingDirectory: spec.workingDirectory ?? placement.image.workingDirectory, userID: identity.uid, groupID: identity.gid,
            hostname: "\(object.key.name)-\(replica.index)", readOnlyRoot: spec.readOnlyRoot,
            cgroupsPath: cgroupsPath,
            mounts: mounts, hostNetwork: spec.hostNetwork,
            annotations: ["hypermesh.workload": object.key.name, "hypermesh.replica": String(replica.index),
                          "hypermesh.claim": spec.claim, "hypermesh.generation": String(object.generation)])
        replica.oomKillsAtStart = (try? placement.claimGroup.usage().oomKills) ?? 0
        replica.generation = object.generation
        replica.imageID = placement.image.id
        replica.startedAt = now
        replica.finishedAt = nil
        replica.exitCode = nil
        replica.pid = nil
        replica.stopRequestedAt = nil
        replica.exitRecorded = false
        replica.nextStartAt = nil
        replica.reason = nil
        replica.message = nil
        do {
            try placement.runtime.start(files, configuration: configuration, lowerDirectories: placement.lowerDirectories,
                                        oomEventsFile: oomEvents, journalFields: ["HYPERMESH_WORKLOAD": object.key.name, "HYPERMESH_REPLICA": String(replica.index),
                                                        "HYPERMESH_CLAIM": spec.claim])
        } catch let error as HyperMeshError {
            replica.failToStart(error.message)
            return .seconds(10)
        }
        replica.phase = .starting
        return TimeSpan(milliseconds: 20)
    }

    /// Accounts a run's end once: exit code, reason, and whether and when it starts again.
    private func recordExit(_ replica: inout ReplicaStatus, exit: ExitRecord, files: ReplicaFiles, spec: WorkloadSpec,
                            placement: Placement, object: StoredObject, context: ReconcileContext)
    {
        let runtime = placement.runtime
        replica.exitRecorded = true
        replica.finishedAt = exit.finishedAt
        replica.exitCode = exit.exitCode
        replica.pid = nil
        let oomKills = (try? placement.claimGroup.usage().oomKills) ?? 0
        if let error = exit.startError ?? (runtime.didStart(files) ? nil : runtime.startError(of: files)) {
            replica.reason = "StartFailed"
            replica.message = error
        } else if exit.exitCode == -1 {
            replica.reason = "Error"
            replica.message = "its shim is gone (killed?); the exit status is unknown"
        } else if exit.oomKills > 0 || (exit.exitCode == 137 && oomKills > (replica.oomKillsAtStart ?? oomKills)) {
            replica.reason = "OOMKilled"
            replica.message = "killed for exceeding the memory of claim \(spec.claim)"
        } else if exit.exitCode == 0 {
            replica.reason = "Completed"
            replica.message = nil
        } else {
            replica.reason = "Error"
            replica.message = "exited with status \(exit.exitCode)"
        }
        let failed = exit.exitCode != 0
        let restart = spec.restartPolicy == .always || (spec.restartPolicy == .onFailure && failed)
        if replica.stopRequestedAt != nil {
            replica.phase = failed ? .failed : .succeeded
            replica.nextStartAt = nil
            return
        }
        guard restart else {
            replica.phase = failed ? .failed : .succeeded
            replica.nextStartAt = nil
            context.events.record(object.key, failed ? .warning : .normal, reason: replica.reason ?? "Completed",
                                  message: "replica \(replica.index) exited with status \(exit.exitCode)")
            return
        }
        // A run of 10 minutes or more starts the back-off over, as Kubernetes does.
        if let started = replica.startedAt, exit.finishedAt.timeIntervalSince(started) >= 600 { replica.backOffStep = 0 }
        let delay = ReplicaStatus.backOff(step: replica.backOffStep)
        replica.backOffStep += 1
        replica.nextStartAt = exit.finishedAt.addingTimeInterval(delay)
        replica.phase = .backOff
        context.events.record(object.key, .warning, reason: "BackOff", message: "replica \(replica.index) exited with status "
            + "\(exit.exitCode) (\(replica.reason ?? "Error")); restarting in \(Int(delay))s")
    }

    // MARK: - Stopping

    /// One step of stopping a replica without blocking: SIGTERM first, SIGKILL once the grace has passed; removes it
    /// once it no longer runs and returns `true` then.
    func stopStep(_ files: ReplicaFiles, runtime: ContainerRuntime, status: inout ReplicaStatus, grace: TimeSpan, now: Date) throws -> Bool {
        switch runtime.state(of: files) {
        case .running, .starting:
            if let asked = status.stopRequestedAt {
                if now.timeIntervalSince(asked) >= grace.timeInterval { runtime.signal(files, SIGKILL) }
            } else {
                status.stopRequestedAt = now
                runtime.signal(files, SIGTERM)
            }
            status.phase = .terminating
            return false
        case .exited, .lost, .absent:
            try runtime.remove(files)
            status.stopRequestedAt = nil
            return true
        }
    }

    /// Stops every replica of `object` on this node, waiting at most the grace (then SIGKILL, then up to 5 s);
    /// returns whether one still runs.
    func stopAll(_ object: StoredObject, runtime: ContainerRuntime, grace: TimeSpan, context: ReconcileContext) async throws -> Bool {
        let replicas = runtime.replicasOnDisk().filter { $0.workload == object.key.name }
        guard !replicas.isEmpty else { return false }
        let running = replicas.filter { runtime.state(of: $0).isActive }
        for files in running { runtime.signal(files, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace.timeInterval)
        var killed = false
        for _ in 0..<Int(grace.timeInterval * 20 + 120) {
            let left = running.filter { runtime.state(of: $0).isActive }
            if left.isEmpty { break }
            if !killed && Date() >= deadline {
                left.forEach { runtime.signal($0, SIGKILL) }
                killed = true
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        var stillRunning = false
        for files in replicas {
            do { try runtime.remove(files) } catch { stillRunning = true }
        }
        if !running.isEmpty {
            context.events.record(object.key, .normal, reason: "Stopped", message: "\(running.count) container(s) stopped"
                + (killed ? " (SIGKILL after \(grace))" : ""))
        }
        runtime.releaseNamespaceIfIdle()
        return stillRunning
    }

    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        let runtime = ContainerRuntime(stateDirectory: context.stateDirectory)
        let grace = WorkloadSpec(spec: object.spec).terminationGrace
        if try await self.stopAll(object, runtime: runtime, grace: grace, context: context) {
            throw HyperMeshError.conflict("a container of workload \(object.key.name) did not stop")
        }
    }

    /// Replicas on disk whose Workload is gone (deleted while no agent ran, or its state directory restored): they
    /// are killed and removed, so nothing runs that no Workload owns. The agent runs this once as it starts;
    /// deletions while it runs go through ``cleanUp(_:context:)``.
    public static func stopOrphans(stateDirectory: URL, store: StateStore) {
        let runtime = ContainerRuntime(stateDirectory: stateDirectory)
        guard runtime.unavailableReason() == nil else { return }
        let replicas = runtime.replicasOnDisk()
        let orphaned = Set(replicas.map(\.workload)).filter { (try? store.object(ResourceKey(kind: .workload, name: $0))) == nil }
        for files in replicas where orphaned.contains(files.workload) { runtime.killAndRemove(files) }
        runtime.releaseNamespaceIfIdle()
    }
}
