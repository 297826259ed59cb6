/// A JSON value: how specs and status are held between the decoder, the store and the printers.
///
/// There are no floating-point numbers: quantities and durations travel as their canonical
/// strings, counts as integers.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The element at `index` of an array; `nil` for other values or an index out of range.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    /// The member named `key` of an object, else `nil`.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value at a field path such as `spec.cpu.cores` or `spec.validators[1].id`.
    public func value(atPath path: String) -> JSONValue? {
        // Paths without indexes (nearly all of them) are walked without building an array of components: the
        // decoder's cross-field checks and the controllers look up several paths per object.
        if !path.utf8.contains(UInt8(ascii: "[")) {
            var current = self
            var rest = Substring(path)
            while !rest.isEmpty {
                let end = rest.firstIndex(of: ".") ?? rest.endIndex
                if end != rest.startIndex {
                    guard let next = current[String(rest[..<end])] else { return nil }
                    current = next
                }
                rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            }
            return current
        }
        var current: JSONValue? = self
        for component in path.split(separator: ".") {
            var name = Substring(component)
            var indexes: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "["),
                  let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)])
            {
                indexes.insert(index, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty { current = current?[String(name)] }
            for index in indexes {
                guard let items = current?.arrayValue, items.indices.contains(index) else { return nil }
                current = items[index]
            }
        }
        return current
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
    public var integerValue: Int64? {
        if case .integer(let number) = self { return number }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// How the value reads in a diff line or a table cell: strings bare, the rest as JSON.
    public var displayText: String {
        if case .string(let text) = self { return text }
        return self.canonicalJSON
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}
