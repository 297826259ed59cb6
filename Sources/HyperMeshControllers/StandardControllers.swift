import HyperMeshReconciler

/// The controllers this build ships. Kinds missing here are stored and reported
/// `Ready=Unknown` (reason `NoController`) by the framework.
public enum StandardControllers {
    /// - Parameter ledger: the mesh ledger, in an agent of a mesh: pools are offered there and claims on other
    ///   nodes placed through it.
    public static func all(ledger: (any MeshLedgerAccess)? = nil) -> [any Controller] {
        let caches = AllocationCaches()
        return [MeshController(), CertificatePolicyController(), ResourcePoolController(caches: caches, ledger: ledger),
                ClaimController(caches: caches, ledger: ledger), MirrorPolicyController()]
    }
}
