import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshMembership
import HyperMeshStore
import Logging
import STOQ
import TrustChain

/// What the agent takes from `mesh init` / `mesh join`: where to listen for STOQ (the `Mesh` object's
/// `spec.node.listen`, once the node holds its certificate) and, on the node that holds the mesh CA, the
/// service that answers joins.
struct MeshMembership {
    /// `spec.node.listen` of this node's Mesh object; `nil` without one or without node credentials.
    let listenAddress: String?
    let service: MembershipService?
    /// This node's CA, when it holds the mesh's.
    let authority: CertificateAuthority?
    /// Where the CA node answers (the Mesh's first bootstrap peer), for a node that joined.
    let caAddress: SocketAddress?

    init(store: StateStore, stateDirectory: URL, logger: Logger) throws {
        let mesh = try store.objects(of: .mesh).first { $0.deletionRequestedAt == nil }
        let hasCredentials = NodeTLS.missingFiles(stateDirectory).isEmpty
        self.listenAddress = hasCredentials ? mesh?.spec.value(atPath: "node.listen")?.stringValue : nil
        let caDirectory = stateDirectory.appendingPathComponent("ca")
        self.caAddress = (mesh?.spec["bootstrap"]?.arrayValue?.first?.stringValue).flatMap { try? SocketAddress(parsing: $0) }
        guard hasCredentials, let mesh, CertificateAuthority.exists(in: caDirectory) else {
            self.service = nil
            self.authority = nil
            return
        }
        let authority = try CertificateAuthority(directory: caDirectory)
        self.authority = authority
        let selfNodeID = try NodeIdentity.loadOrCreate(in: stateDirectory).identity.nodeID
        let advertised = mesh.spec["validators"]?.arrayValue?.first { $0["id"]?.stringValue == selfNodeID }?["address"]?.stringValue
        let name = mesh.key.name
        self.service = MembershipService(authority: authority, mesh: { [store] in
            // Read at each join: the validator set may have changed since the agent started.
            let current = (try? store.object(mesh.key)) ?? mesh
            let validators = current.spec["validators"]?.arrayValue?.compactMap { entry -> ValidatorAddress? in
                guard let id = entry["id"]?.stringValue, let address = entry["address"]?.stringValue else { return nil }
                return ValidatorAddress(id: id, address: address)
            } ?? []
            return MeshDescription(name: name, validators: validators, consensus: current.spec["consensus"]?.canonicalJSON)
        }, selfNodeID: selfNodeID, selfAddress: advertised ?? self.listenAddress, logger: logger)
    }
}
