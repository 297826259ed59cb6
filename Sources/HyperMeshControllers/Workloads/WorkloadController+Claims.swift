import Foundation
import HyperMeshContainers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

extension WorkloadController {
    /// The workloads whose replicas run in claim `claim` here.
    static func workloads(inClaim claim: String, store: StateStore) throws -> [StoredObject] {
        try store.objects(of: .workload).filter { $0.spec["claim"]?.stringValue == claim }
    }

    /// Stops the containers of every workload in `claim`, each with its grace: a claim's cgroups can only go once
    /// nothing lives in them (a deleted claim's cleanup waits for this).
    public static func stopContainers(inClaim claim: String, context: ReconcileContext) async throws {
        let runtime = ContainerRuntime(stateDirectory: context.stateDirectory)
        let controller = WorkloadController()
        for workload in try self.workloads(inClaim: claim, store: context.store) {
            let grace = WorkloadSpec(spec: workload.spec).terminationGrace
            if try await controller.stopAll(workload, runtime: runtime, grace: grace, context: context) {
                throw HyperMeshError.conflict("a container of workload \(workload.key.name) in claim \(claim) did not stop")
            }
        }
    }

    /// Kills at once the containers of every workload in `claim` (its lease ended, its spec changed): the claim is
    /// released now, not after a grace.
    public static func killContainers(inClaim claim: String, stateDirectory: URL, store: StateStore) {
        let runtime = ContainerRuntime(stateDirectory: stateDirectory)
        let names = Set(((try? self.workloads(inClaim: claim, store: store)) ?? []).map(\.key.name))
        for files in runtime.replicasOnDisk() where names.contains(files.workload) { runtime.killAndRemove(files) }
    }
}
