import HyperMeshCore

/// One decoded, validated document: what `apply` stores.
public struct SpecDocument: Sendable, Hashable {
    public var key: ResourceKey
    public var labels: [String: String]
    /// The spec with quantities and durations in canonical form, so equal meaning gives equal JSON.
    public var spec: JSONValue
    /// Where the document starts.
    public var location: SourceLocation

    public init(key: ResourceKey, labels: [String: String], spec: JSONValue, location: SourceLocation) {
        self.key = key
        self.labels = labels
        self.spec = spec
        self.location = location
    }
}
