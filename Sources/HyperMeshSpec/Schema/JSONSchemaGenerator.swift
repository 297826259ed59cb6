import HyperMeshCore

/// Writes the JSON Schema (draft 2020-12) of each kind from the same field tables the
/// decoder validates with, so `Specs/*.schema.json` is the decoder's exact reference
/// (except the cross-field rules, which JSON Schema cannot state; they are listed in
/// each schema's description).
public enum JSONSchemaGenerator {
    public static let dialect = "https://json-schema.org/draft/2020-12/schema"
    /// A share of the host: 1 to 100 percent, at most two decimals (the decoder also refuses 0% and above 100%).
    static let sharePattern = "^[0-9]{1,3}([.][0-9]{1,2})?%$"
    static let quantityPattern = "^[+]?[0-9]+([.][0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
    static let durationPattern = "^([0-9]+([.][0-9]+)?(h|m|s|ms))+$"

    /// The file name of a kind's schema in `Specs/`.
    public static func fileName(for kind: Kind) -> String { "\(kind.rawValue).schema.json" }

    /// The schema of one kind as pretty JSON, ending in a newline.
    public static func schemaText(for kind: Kind) -> String {
        self.schema(for: kind).prettyJSON() + "\n"
    }

    public static func schema(for kind: Kind) -> JSONValue {
        let kindSchema = KindSchema.schema(for: kind)
        return .object([
            "$schema": .string(self.dialect),
            "$id": .string("urn:hypermesh:v1:\(kind.rawValue)"),
            "title": .string(kind.rawValue),
            "description": .string(kindSchema.summary),
            "type": "object",
            "additionalProperties": false,
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": .object([
                "apiVersion": .object(["const": .string(Kind.apiVersion)]),
                "kind": .object(["const": .string(kind.rawValue)]),
                "metadata": self.schema(for: .object(KindSchema.metadata)),
                "spec": self.schema(for: .object(kindSchema.spec)),
                "status": .object(["description": "Written by the system; ignored on input."]),
            ]),
        ])
    }

    static func schema(for type: FieldType) -> JSONValue {
        switch type {
        case .string(let rule):
            var members: [String: JSONValue] = ["type": "string"]
            if let values = rule.values { members["enum"] = .array(values.map(JSONValue.string)) }
            if let pattern = rule.pattern { members["pattern"] = .string(pattern) }
            if let maximumLength = rule.maximumLength { members["maxLength"] = .integer(Int64(maximumLength)) }
            if rule.pattern == StringRule.dnsLabel.pattern { members["minLength"] = 1 }
            return .object(members)
        case .integer(let minimum, let maximum):
            return ["type": "integer", "minimum": .integer(minimum), "maximum": .integer(maximum)]
        case .boolean:
            return ["type": "boolean"]
        case .quantity:
            return ["anyOf": [
                ["type": "integer", "exclusiveMinimum": 0],
                ["type": "number", "exclusiveMinimum": 0],
                ["type": "string", "pattern": .string(self.quantityPattern)],
            ]]
        case .quantityOrShare:
            return ["anyOf": [
                ["type": "integer", "exclusiveMinimum": 0],
                ["type": "number", "exclusiveMinimum": 0],
                ["type": "string", "pattern": .string(self.quantityPattern)],
                ["type": "string", "pattern": .string(self.sharePattern)],
            ]]
        case .duration:
            return ["type": "string", "pattern": .string(self.durationPattern)]
        case .array(let element, let minimumCount):
            return ["type": "array", "items": self.schema(for: element), "minItems": .integer(Int64(minimumCount))]
        case .labels:
            return [
                "type": "object",
                "propertyNames": self.schema(for: .string(.labelKey)),
                "additionalProperties": self.schema(for: .string(.labelValue)),
            ]
        case .ignored:
            return ["description": "Written by the system; ignored on input."]
        case .object(let objectSchema):
            var properties: [String: JSONValue] = [:]
            for field in objectSchema.fields {
                var property = self.schema(for: field.type)
                if case .object(var members) = property {
                    members["description"] = .string(field.summary)
                    property = .object(members)
                }
                properties[field.name] = property
            }
            var members: [String: JSONValue] = [
                "type": "object", "additionalProperties": false, "properties": .object(properties),
            ]
            let required = objectSchema.fields.filter(\.isRequired).map { JSONValue.string($0.name) }
            if !required.isEmpty { members["required"] = .array(required) }
            if !objectSchema.requiresOneOf.isEmpty {
                members["anyOf"] = .array(objectSchema.requiresOneOf.map { ["required": [.string($0)]] })
            }
            return .object(members)
        }
    }
}
