import HyperMeshCore
import Yams

/// Walks one YAML node tree against a ``FieldType``, collecting every problem (not only the
/// first) and producing the canonical JSON of what is valid.
struct NodeValidator {
    let file: String
    private(set) var diagnostics: [SpecDiagnostic] = []
    /// Where each field's value starts, by field path; cross-field checks report there.
    private(set) var locations: [String: SourceLocation] = [:]

    init(file: String) { self.file = file }

    func location(of node: Node) -> SourceLocation {
        guard let mark = node.mark else { return SourceLocation(file: self.file, line: 1, column: 1) }
        return SourceLocation(file: self.file, line: mark.line, column: mark.column)
    }

    mutating func report(_ node: Node, _ path: String, _ message: String) {
        self.diagnostics.append(SpecDiagnostic(location: self.location(of: node), fieldPath: path, message: message))
    }

    /// Validates `node` as `type`; returns its canonical value (for objects and lists, the valid
    /// part of it), or `nil` after reporting why not. The value is usable only when
    /// ``diagnostics`` is empty.
    mutating func validate(_ node: Node, as type: FieldType, path: String) -> JSONValue? {
        self.locations[path] = self.location(of: node)
        if case .alias = node {
            self.report(node, path, "YAML aliases are not supported in specs")
            return nil
        }
        switch type {
        case .ignored:
            return nil
        case .object(let schema):
            return self.validateObject(node, schema: schema, path: path)
        case .array(let elementType, let minimumCount):
            guard case .sequence(let sequence) = node else { return self.mismatch(node, type, path) }
            if sequence.count < minimumCount {
                self.report(node, path, "needs at least \(minimumCount) item\(minimumCount == 1 ? "" : "s")")
            }
            var items: [JSONValue] = []
            for (index, element) in sequence.enumerated() {
                if let item = self.validate(element, as: elementType, path: "\(path)[\(index)]") { items.append(item) }
            }
            return .array(items)
        case .labels:
            return self.validateLabels(node, path: path)
        default:
            guard case .scalar(let scalar) = node else { return self.mismatch(node, type, path) }
            return self.validateScalar(YAMLScalar(scalar), node: node, as: type, path: path)
        }
    }

    private mutating func mismatch(_ node: Node, _ type: FieldType, _ path: String) -> JSONValue? {
        self.report(node, path, "expected \(type.expectation), found \(node.typeName)")
        return nil
    }

    private mutating func validateScalar(_ scalar: YAMLScalar, node: Node, as type: FieldType, path: String) -> JSONValue? {
        switch (type, scalar) {
        case (.string(let rule), .string(let text)):
            if let problem = rule.problem(with: text) { self.report(node, path, problem); return nil }
            return .string(text)
        case (.integer(let minimum, let maximum), .integer(let number)):
            if number < minimum { self.report(node, path, "\(number) is less than \(minimum)"); return nil }
            if number > maximum { self.report(node, path, "\(number) is more than \(maximum)"); return nil }
            return .integer(number)
        case (.boolean, .bool(let flag)):
            return .bool(flag)
        case (.quantity(let rule), _):
            guard let text = scalar.numberOrStringText else { return self.mismatch(node, type, path) }
            return self.validateQuantity(text, rule: rule, node: node, path: path)
        case (.quantityOrShare(let rule), _):
            guard let text = scalar.numberOrStringText else { return self.mismatch(node, type, path) }
            guard HostShare.isShare(text) else { return self.validateQuantity(text, rule: rule, node: node, path: path) }
            do { return .string(try HostShare(parsing: text).description) } catch {
                self.report(node, path, error.description)
                return nil
            }
        case (.duration, .string(let text)):
            let span: TimeSpan
            do { span = try TimeSpan(parsing: text) } catch {
                self.report(node, path, error.description)
                return nil
            }
            if span.milliseconds <= 0 { self.report(node, path, "must be longer than zero"); return nil }
            return .string(span.description)
        case (.duration, .integer):
            self.report(node, path, "expected \(type.expectation), found an integer (add a unit, e.g. 90s)")
            return nil
        case (.string, .integer), (.string, .bigInteger), (.string, .decimal), (.string, .bool):
            self.report(node, path, "expected \(type.expectation), found \(scalar.typeName) (quote it to make it a string)")
            return nil
        default:
            self.report(node, path, "expected \(type.expectation), found \(scalar.typeName)")
            return nil
        }
    }

    private mutating func validateQuantity(_ text: String, rule: QuantityRule, node: Node, path: String) -> JSONValue? {
        if HostShare.isShare(text) {
            self.report(node, path, "\(text) is a share of the host, which only a pool's cpu.cores, memory.size and storage.size take; "
                + "give an exact quantity here")
            return nil
        }
        let quantity: Quantity
        do { quantity = try Quantity(parsing: text) } catch {
            self.report(node, path, error.description)
            return nil
        }
        if quantity.isNegative { self.report(node, path, "\(text) is negative; it must be greater than zero"); return nil }
        if quantity == .zero { self.report(node, path, "must be greater than zero"); return nil }
        if rule == .bytes && !quantity.isWhole {
            self.report(node, path, "\(text) is not a whole number of bytes")
            return nil
        }
        return .string(quantity.description)
    }

    private mutating func validateObject(_ node: Node, schema: ObjectSchema, path: String) -> JSONValue? {
        guard case .mapping(let mapping) = node else { return self.mismatch(node, .object(schema), path) }
        var members: [String: JSONValue] = [:]
        var present: Set<String> = []
        var valid = true
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode, case .string(let key) = YAMLScalar(keyScalar) else {
                self.report(keyNode, path, "field names must be strings, found \(keyNode.typeName)")
                valid = false
                continue
            }
            let childPath = path.isEmpty ? key : path + "." + key
            guard let field = schema.field(named: key) else {
                self.report(keyNode, childPath, "unknown field" + Self.suggestion(for: key, among: schema.fields.map(\.name)))
                valid = false
                continue
            }
            present.insert(key)
            if case .ignored = field.type { continue }
            if let value = self.validate(valueNode, as: field.type, path: childPath) {
                members[key] = value
            } else {
                valid = false
            }
        }
        for field in schema.fields where field.isRequired && !present.contains(field.name) {
            self.report(node, path.isEmpty ? field.name : path + "." + field.name, "required field is missing")
            valid = false
        }
        if !schema.requiresOneOf.isEmpty, present.isDisjoint(with: schema.requiresOneOf) {
            self.report(node, path, "needs at least one of " + schema.requiresOneOf.joined(separator: ", "))
            valid = false
        }
        _ = valid
        // Partial on error: cross-field checks still see the valid fields, so one pass lists every problem.
        return .object(members)
    }

    private mutating func validateLabels(_ node: Node, path: String) -> JSONValue? {
        guard case .mapping(let mapping) = node else { return self.mismatch(node, .labels, path) }
        var labels: [String: JSONValue] = [:]
        var valid = true
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode, case .string(let key) = YAMLScalar(keyScalar) else {
                self.report(keyNode, path, "label names must be strings, found \(keyNode.typeName)")
                valid = false
                continue
            }
            let childPath = path + "." + key
            if let problem = StringRule.labelKey.problem(with: key) {
                self.report(keyNode, childPath, problem)
                valid = false
            }
            guard case .scalar(let valueScalar) = valueNode, case .string(let value) = YAMLScalar(valueScalar) else {
                self.report(valueNode, childPath, "label values are strings, found \(valueNode.typeName) (quote it)")
                valid = false
                continue
            }
            if let problem = StringRule.labelValue.problem(with: value) {
                self.report(valueNode, childPath, problem)
                valid = false
            }
            labels[key] = .string(value)
        }
        return valid ? .object(labels) : nil
    }

    /// ` (did you mean "cores"?)` when a known name is within two edits of `name`.
    static func suggestion(for name: String, among candidates: [String]) -> String {
        let scored = candidates.map { ($0, editDistance(name.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else {
            return candidates.isEmpty ? "" : " (known fields: " + candidates.joined(separator: ", ") + ")"
        }
        return " (did you mean \"\(best.0)\"?)"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
