/// Identifies one object: its kind and its name.
public struct ResourceKey: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var kind: Kind
    public var name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// `Kind/name`, as diff and events print it.
    public var description: String { "\(self.kind.rawValue)/\(self.name)" }

    public static func < (lhs: ResourceKey, rhs: ResourceKey) -> Bool {
        lhs.kind == rhs.kind ? lhs.name < rhs.name : lhs.kind < rhs.kind
    }
}
