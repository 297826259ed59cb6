import Foundation
import HyperMeshCore

/// Something that happened to an object, as `describe` lists it.
public struct StoredEvent: Sendable, Hashable {
    /// `Normal` or `Warning`, as Kubernetes events.
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    public var id: Int64
    public var time: Date
    public var key: ResourceKey
    public var type: EventType
    /// CamelCase, e.g. `Created`, `ReconcileFailed`.
    public var reason: String
    public var message: String
}
