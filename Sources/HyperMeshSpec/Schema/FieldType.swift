import HyperMeshCore

/// The type of one spec field. The decoder validates against it and the JSON Schema
/// generator writes it out, so the two cannot drift apart.
public indirect enum FieldType: Sendable {
    case string(StringRule)
    case integer(minimum: Int64, maximum: Int64)
    case boolean
    case quantity(QuantityRule)
    /// A quantity, or a share of what the host has (`50%`), resolved against discovery at reconcile time.
    case quantityOrShare(QuantityRule)
    /// A positive duration such as `90s`.
    case duration
    case array(FieldType, minimumCount: Int)
    /// A map of label keys to label values.
    case labels
    case object(ObjectSchema)
    /// Accepted and ignored (fields written by the system, such as `status`).
    case ignored

    /// How a user reads this type in an error: "expected a quantity".
    var expectation: String {
        switch self {
        case .string(let rule): return rule.expectation
        case .integer: return "an integer"
        case .boolean: return "true or false"
        case .quantity(let rule): return rule == .bytes ? "a size such as 4Gi" : "a quantity such as 2 or 500m"
        case .quantityOrShare(let rule):
            return (rule == .bytes ? "a size such as 4Gi" : "a quantity such as 2 or 500m") + ", or a share of the host such as 50%"
        case .duration: return "a duration such as 90s, 15m or 1h30m"
        case .array: return "a list"
        case .labels: return "a map of label names to strings"
        case .object: return "a mapping"
        case .ignored: return "anything"
        }
    }
}

/// How a quantity field is read.
public enum QuantityRule: Sendable, Equatable {
    /// CPU cores: millicores allowed (`500m`), greater than zero.
    case cores
    /// Bytes: a whole number, greater than zero.
    case bytes
}

/// One field of an object.
public struct Field: Sendable {
    public var name: String
    public var type: FieldType
    public var isRequired: Bool
    public var summary: String

    public init(_ name: String, _ type: FieldType, required: Bool = false, _ summary: String) {
        self.name = name
        self.type = type
        self.isRequired = required
        self.summary = summary
    }
}

/// A mapping with a fixed set of fields; any other field is an error.
public struct ObjectSchema: Sendable {
    public var fields: [Field]
    /// At least one of these fields must be present (e.g. a pool offers at least one resource).
    public var requiresOneOf: [String]

    public init(_ fields: [Field], requiresOneOf: [String] = []) {
        self.fields = fields
        self.requiresOneOf = requiresOneOf
    }

    public func field(named name: String) -> Field? { self.fields.first { $0.name == name } }
}
