import Foundation
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// Reconciles `Mesh`: records this node's identity. On first reconcile it generates the
/// node key in the state directory; the status shows the node id (hex SHA-256 of the
/// public key), name and listen address.
public struct MeshController: Controller {
    /// STOQ's default listen address.
    public static let defaultListen = "0.0.0.0:9292"

    public init() {}

    public var kind: Kind { .mesh }

    public func reconcile(_ object: StoredObject, context: ReconcileContext) async throws -> ReconcileResult {
        let nodeName = object.spec.value(atPath: "node.name")?.stringValue ?? ""
        precondition(!nodeName.isEmpty, "the decoder requires spec.node.name")
        let identity: NodeIdentity
        do {
            let loaded = try NodeIdentity.loadOrCreate(in: context.stateDirectory)
            identity = loaded.identity
            if loaded.created {
                context.events.record(object.key, .normal, reason: "NodeKeyGenerated",
                                      message: "generated node key \(NodeIdentity.keyPath), node id \(identity.nodeID)")
            }
        } catch let error as HyperMeshError where error.code == .corruptData {
            var status = ObjectStatus.ready(.false, reason: "NodeKeyInvalid", message: error.message,
                                            generation: object.generation)
            status.setCondition(Condition(type: Condition.degraded, status: .true, reason: "NodeKeyInvalid",
                                          message: error.message, observedGeneration: object.generation))
            return ReconcileResult(status: status)
        }
        let fields: [String: JSONValue] = [
            "nodeId": .string(identity.nodeID),
            "nodeName": .string(nodeName),
            "listen": .string(object.spec.value(atPath: "node.listen")?.stringValue ?? Self.defaultListen),
            "meshAddress": .string("hm://\(identity.nodeID)"),
            "bootstrapPeers": .integer(Int64(object.spec["bootstrap"]?.arrayValue?.count ?? 0)),
            "validators": .integer(Int64(object.spec["validators"]?.arrayValue?.count ?? 0)),
        ]
        return ReconcileResult(status: .ready(
            .true, reason: "IdentityReady", message: "node \(nodeName) is \(identity.nodeID)",
            generation: object.generation, fields: fields))
    }

    /// The node key belongs to the machine, not to the Mesh object: deleting the object keeps
    /// the key, so applying a Mesh again restores the same identity.
    public func cleanUp(_ object: StoredObject, context: ReconcileContext) async throws {
        context.events.record(object.key, .normal, reason: "IdentityKept",
                              message: "node key \(NodeIdentity.keyPath) kept in the state directory")
    }
}
