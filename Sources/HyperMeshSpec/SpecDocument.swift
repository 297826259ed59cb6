import HyperMeshCore

/// One decoded, validated document: what `apply` stores.
public struct SpecDocument: Sendable, Hashable {
    public var key: ResourceKey
    public var labels: [String: String]
    /// The spec with quantities and durations in canonical form, so equal meaning gives equal JSON.
    public var spec: JSONValue
    /// Where the document starts.
    public var location: SourceLocation
    /// Where its `metadata.name` value is (errors about the name, such as a duplicate, point here).
    public var nameLocation: SourceLocation

    public init(key: ResourceKey, labels: [String: String], spec: JSONValue, location: SourceLocation,
                nameLocation: SourceLocation? = nil)
    {
        self.key = key
        self.labels = labels
        self.spec = spec
        self.location = location
        self.nameLocation = nameLocation ?? location
    }
}
