import HyperMeshReconciler

/// The controllers this build ships. Kinds missing here are stored and reported
/// `Ready=Unknown` (reason `NoController`) by the framework.
public enum StandardControllers {
    public static func all() -> [any Controller] {
        let caches = AllocationCaches()
        return [MeshController(), CertificatePolicyController(), ResourcePoolController(caches: caches), ClaimController(caches: caches),
                MirrorPolicyController()]
    }
}
