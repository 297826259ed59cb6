/// What the system observed about an object: kind-specific fields and conditions.
public struct ObjectStatus: Sendable, Hashable {
    /// The spec generation this status reflects.
    public var observedGeneration: Int64
    /// Kind-specific observations (e.g. `nodeId` for a Mesh).
    public var fields: [String: JSONValue]
    public var conditions: [Condition]

    public init(observedGeneration: Int64 = 0, fields: [String: JSONValue] = [:], conditions: [Condition] = []) {
        self.observedGeneration = observedGeneration
        self.fields = fields
        self.conditions = conditions
    }

    /// The condition of the given type, if recorded.
    public func condition(_ type: String) -> Condition? { self.conditions.first { $0.type == type } }

    /// Sets a condition, keeping its `lastTransitionTime` when its status did not change.
    public mutating func setCondition(_ condition: Condition) {
        if let index = self.conditions.firstIndex(where: { $0.type == condition.type }) {
            var updated = condition
            if self.conditions[index].status == condition.status {
                updated.lastTransitionTime = self.conditions[index].lastTransitionTime
            }
            self.conditions[index] = updated
        } else {
            self.conditions.append(condition)
        }
    }

    public var json: JSONValue {
        var members = self.fields
        members["observedGeneration"] = .integer(self.observedGeneration)
        members["conditions"] = .array(self.conditions.map(\.json))
        return .object(members)
    }

    public init(json: JSONValue) throws {
        guard var members = json.objectValue else { throw HyperMeshError.corruptData("a stored status is not an object") }
        self.observedGeneration = members.removeValue(forKey: "observedGeneration")?.integerValue ?? 0
        self.conditions = try (members.removeValue(forKey: "conditions")?.arrayValue ?? []).map(Condition.init(json:))
        self.fields = members
    }
}
