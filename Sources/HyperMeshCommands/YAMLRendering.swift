import HyperMeshCore
import HyperMeshSpec
import Yams

/// Renders JSON values as YAML that reads back to the same values.
public enum YAMLRendering {
    /// One YAML document for `value`, keys sorted.
    public static func render(_ value: JSONValue) -> String {
        do {
            return try Yams.serialize(node: self.node(for: value), indent: 2, width: -1, allowUnicode: true, sortKeys: true)
        } catch {
            // Every JSONValue is representable in YAML; failing here means Yams changed.
            fatalError("Internal inconsistency: cannot emit YAML for \(value.canonicalJSON): \(error)")
        }
    }

    /// Several documents as one stream, separated by `---`.
    public static func renderStream(_ values: [JSONValue]) -> String {
        values.map { "---\n" + self.render($0) }.joined()
    }

    static func node(for value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let flag): return Node(flag ? "true" : "false", Tag(.bool))
        case .integer(let number): return Node(String(number), Tag(.int))
        case .string(let text):
            // Quote strings that a reader would otherwise take for a number, boolean or null.
            return Node(text, Tag(.str), PlainScalarRule.readsAsString(text) ? .any : .doubleQuoted)
        case .array(let items): return Node(items.map(self.node(for:)), Tag(.seq), .block)
        case .object(let members):
            return Node(members.sorted { $0.key < $1.key }.map { (Node($0.key), self.node(for: $0.value)) }, Tag(.map), .block)
        }
    }
}
