/// Identifies one object: its kind and its name.
public struct ResourceKey: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var kind: Kind
    public var name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// Parses `Kind/name` (the kind's exact name, as ``description`` writes it); `nil` otherwise.
    public init?(parsing text: String) {
        guard let slash = text.firstIndex(of: "/"), let kind = Kind(rawValue: String(text[..<slash])) else { return nil }
        let name = String(text[text.index(after: slash)...])
        guard !name.isEmpty, !name.contains("/") else { return nil }
        self.init(kind: kind, name: name)
    }

    /// `Kind/name`, as diff and events print it.
    public var description: String { "\(self.kind.rawValue)/\(self.name)" }

    public static func < (lhs: ResourceKey, rhs: ResourceKey) -> Bool {
        lhs.kind == rhs.kind ? lhs.name < rhs.name : lhs.kind < rhs.kind
    }
}
