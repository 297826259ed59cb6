import HyperMeshCore

extension SpecDocument {
    /// The document as the store and `get -o json` hold it: apiVersion, kind, metadata, spec.
    public var json: JSONValue {
        var metadata: [String: JSONValue] = ["name": .string(self.key.name)]
        if !self.labels.isEmpty { metadata["labels"] = .object(self.labels.mapValues(JSONValue.string)) }
        return .object([
            "apiVersion": .string(Kind.apiVersion),
            "kind": .string(self.key.kind.rawValue),
            "metadata": .object(metadata),
            "spec": self.spec,
        ])
    }
}
