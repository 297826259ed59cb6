import HyperMeshConsensus
import HyperMeshCore

/// The genesis validators of a mesh (epoch 0), in the order of the `Mesh` spec's `validators` list: participant
/// `i` of the protocol is entry `i`. Later epochs' validators come from the committed chain
/// (``HyperMeshConsensus/ValidatorEpoch``).
public struct ValidatorSet: Sendable, Equatable {
    public typealias Member = ValidatorMember

    public var members: [Member]
    /// Which proofs operations must carry, from the same spec's `consensus` switches.
    public var requirements: ProofRequirements

    public init(members: [Member], requirements: ProofRequirements = ProofRequirements()) {
        self.members = members
        self.requirements = requirements
    }

    /// From a stored `Mesh` spec (already validated by the spec decoder).
    public init(meshSpec spec: JSONValue, meshName: String) throws {
        let entries = spec["validators"]?.arrayValue ?? []
        guard !entries.isEmpty else {
            throw HyperMeshError.invalidArgument("Mesh \(meshName) lists no validators (spec.validators)")
        }
        self.members = try entries.enumerated().map { index, entry in
            guard let id = entry["id"]?.stringValue, let address = entry["address"]?.stringValue else {
                throw HyperMeshError.invalidArgument("Mesh \(meshName): spec.validators[\(index)] needs id and address")
            }
            return Member(nodeID: id, address: address)
        }
        self.requirements = ProofRequirements(meshSpec: spec)
    }

    public var nodeIDs: [String] { self.members.map(\.nodeID) }

    public func index(of nodeID: String) -> Int? { self.members.firstIndex { $0.nodeID == nodeID } }
}
