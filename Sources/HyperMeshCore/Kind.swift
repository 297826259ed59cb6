/// The six kinds of the `hypermesh/v1` spec language.
public enum Kind: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    case resourcePool = "ResourcePool"
    case claim = "Claim"
    case mirrorPolicy = "MirrorPolicy"
    case certificatePolicy = "CertificatePolicy"
    case mesh = "Mesh"
    case workload = "Workload"

    /// The only apiVersion this build understands.
    public static let apiVersion = "hypermesh/v1"

    /// The order in which kinds are applied and reconciled: what others depend on comes first.
    public static let dependencyOrder: [Kind] = [.mesh, .certificatePolicy, .resourcePool, .claim, .workload, .mirrorPolicy]

    public static func < (lhs: Kind, rhs: Kind) -> Bool {
        Self.dependencyOrder.firstIndex(of: lhs)! < Self.dependencyOrder.firstIndex(of: rhs)!
    }

    /// The lowercase plural, as `get` prints it and accepts it.
    public var plural: String {
        switch self {
        case .resourcePool: return "resourcepools"
        case .claim: return "claims"
        case .mirrorPolicy: return "mirrorpolicies"
        case .certificatePolicy: return "certificatepolicies"
        case .mesh: return "meshes"
        case .workload: return "workloads"
        }
    }

    /// The short name, as `get` accepts it.
    public var shortName: String {
        switch self {
        case .resourcePool: return "pool"
        case .claim: return "claim"
        case .mirrorPolicy: return "mirror"
        case .certificatePolicy: return "cert"
        case .mesh: return "mesh"
        case .workload: return "workload"
        }
    }

    /// Resolves what a user typed (any case; singular, plural or short name, e.g.
    /// `ResourcePool`, `resourcepools`, `pool`, `pools`) to a kind.
    public init?(userInput: String) {
        let lowered = userInput.lowercased()
        for kind in Kind.allCases {
            let names = [kind.rawValue.lowercased(), kind.plural, kind.shortName, kind.shortName + "s"]
            if names.contains(lowered) {
                self = kind
                return
            }
        }
        return nil
    }
}
