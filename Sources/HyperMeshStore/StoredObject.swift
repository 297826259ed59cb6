import Foundation
import HyperMeshCore

/// An object as the store holds it: desired spec, bookkeeping, and observed status.
public struct StoredObject: Sendable, Hashable {
    public var key: ResourceKey
    public var uid: String
    public var labels: [String: String]
    public var spec: JSONValue
    /// Bumped only when `spec` changes.
    public var generation: Int64
    /// Bumped on every write to the object or its status (a store-wide counter).
    public var resourceVersion: Int64
    public var createdAt: Date
    public var updatedAt: Date
    /// Set by `delete` or pruning; the object disappears once its controller cleaned up.
    public var deletionRequestedAt: Date?
    /// The apply set that owns the object, if any.
    public var applyset: String?
    /// `nil` until a controller (or the framework) first wrote one.
    public var status: ObjectStatus?
    /// When the object asked to be reconciled again.
    public var nextReconcileAt: Date?

    /// The object as `get -o json|yaml` prints it.
    public var json: JSONValue {
        var metadata: [String: JSONValue] = [
            "name": .string(self.key.name),
            "uid": .string(self.uid),
            "generation": .integer(self.generation),
            "resourceVersion": .string(String(self.resourceVersion)),
            "creationTimestamp": .string(Timestamp.format(self.createdAt)),
        ]
        if !self.labels.isEmpty { metadata["labels"] = .object(self.labels.mapValues(JSONValue.string)) }
        if let applyset { metadata["applyset"] = .string(applyset) }
        if let deletionRequestedAt { metadata["deletionTimestamp"] = .string(Timestamp.format(deletionRequestedAt)) }
        var members: [String: JSONValue] = [
            "apiVersion": .string(Kind.apiVersion),
            "kind": .string(self.key.kind.rawValue),
            "metadata": .object(metadata),
            "spec": self.spec,
        ]
        if let status { members["status"] = status.json }
        return .object(members)
    }

    /// The Ready condition's status, `Unknown` when none is recorded.
    public var readiness: Condition.Status { self.status?.condition(Condition.ready)?.status ?? .unknown }
}
