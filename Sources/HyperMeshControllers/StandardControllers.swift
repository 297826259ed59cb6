import HyperMeshReconciler
import STOQ

/// The controllers this build ships. Kinds missing here are stored and reported
/// `Ready=Unknown` (reason `NoController`) by the framework.
public enum StandardControllers {
    /// - Parameters:
    ///   - ledger: the mesh ledger, in an agent of a mesh: pools are offered there and claims on other nodes placed
    ///     through it.
    ///   - dialFrom: the agent's STOQ server, whose socket carries what controllers send to peers.
    public static func all(ledger: (any MeshLedgerAccess)? = nil, dialFrom: STOQServer? = nil) -> [any Controller] {
        let caches = AllocationCaches()
        return [MeshController(), CertificatePolicyController(), ResourcePoolController(caches: caches, ledger: ledger),
                ClaimController(caches: caches, ledger: ledger), WorkloadController(),
                MirrorPolicyController(dialFrom: dialFrom)]
    }
}
