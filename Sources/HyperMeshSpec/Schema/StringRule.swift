import Foundation
import HyperMeshCore

/// What a string field accepts. Each rule has a JSON Schema pattern (or list) and the same
/// check in Swift; the schema tests validate fixtures with both and require one verdict.
public struct StringRule: Sendable, Equatable {
    public var expectation: String
    /// ECMA-262 pattern for the JSON Schema; also what the decoder checks, unless ``values`` is set.
    public var pattern: String?
    /// The allowed values, when the field is an enumeration.
    public var values: [String]?
    public var maximumLength: Int?
    /// A JSON Schema `format` to add (annotation only).
    public var format: String?

    public static func == (lhs: StringRule, rhs: StringRule) -> Bool {
        lhs.pattern == rhs.pattern && lhs.values == rhs.values && lhs.maximumLength == rhs.maximumLength
    }

    public static func oneOf(_ values: [String]) -> StringRule {
        StringRule(expectation: "one of " + values.joined(separator: ", "), values: values)
    }

    public static let dnsLabel = StringRule(
        expectation: "a DNS label", pattern: ResourceName.pattern, maximumLength: ResourceName.maximumLength)
    public static let text = StringRule(expectation: "a non-empty string", pattern: "^.+$", maximumLength: 1024)
    public static let commonName = StringRule(expectation: "a name of 1 to 64 characters", pattern: "^.+$", maximumLength: 64)
    public static let absolutePath = StringRule(expectation: "an absolute path", pattern: "^/.*$", maximumLength: 4096)
    public static let nodeID = StringRule(expectation: "a node id (64 lowercase hex digits)", pattern: "^[0-9a-f]{64}$")
    public static let nodeReference = StringRule(
        expectation: "a node id (64 lowercase hex digits) or a node's name (a DNS label)",
        pattern: "^([0-9a-f]{64}|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$", maximumLength: 64)
    public static let principal = StringRule(
        expectation: "a node id (64 hex digits) or group:NAME",
        pattern: "^([0-9a-f]{64}|group:[a-z0-9]([-a-z0-9]*[a-z0-9])?)$", maximumLength: 70)
    public static let hostPort = StringRule(
        expectation: "HOST:PORT or [IPv6]:PORT",
        pattern: "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[1-9][0-9]{0,4}$", maximumLength: 300)
    public static let dnsName = StringRule(
        expectation: "a DNS name",
        pattern: "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", maximumLength: 253)
    public static let ipAddress = StringRule(
        expectation: "an IPv4 or IPv6 address", pattern: "^[0-9A-Fa-f:.]+$", maximumLength: 45)
    public static let uri = StringRule(
        expectation: "a URI with a scheme, e.g. hm://NODE", pattern: "^[A-Za-z][A-Za-z0-9+.-]*:[^ ]+$", maximumLength: 2048)
    public static let imageReference = StringRule(
        expectation: "an image id, id prefix or name from the local store, or file:/PATH",
        pattern: "^(file:/.+|sha256:[0-9a-f]{12,64}|[A-Za-z0-9][A-Za-z0-9._/-]*(:[A-Za-z0-9._-]+)?)$", maximumLength: 4096)
    /// Any string, the empty one included (arguments, environment values).
    public static let anyText = StringRule(expectation: "a string", pattern: "^[\\s\\S]*$", maximumLength: 32768)
    public static let environmentName = StringRule(
        expectation: "an environment variable name (letters, digits, _; not starting with a digit)",
        pattern: "^[A-Za-z_][A-Za-z0-9_]*$", maximumLength: 256)
    public static let userSpec = StringRule(expectation: "uid, uid:gid or a user name", pattern: "^([0-9]{1,10}(:[0-9]{1,10})?|[a-z_][a-z0-9_-]*)$",
                                            maximumLength: 64)
    public static let relativePath = StringRule(
        expectation: "a relative path without ..", pattern: "^(?!/)(?!.*(^|/)\\.\\.(/|$)).+$", maximumLength: 4096)
    public static let fileMode = StringRule(expectation: "an octal file mode such as 0600", pattern: "^0?[0-7]{3}$")

    /// Why `text` does not satisfy the rule, or `nil` when it does.
    func problem(with text: String) -> String? {
        if let values {
            return values.contains(text) ? nil : "\"\(text)\" is not \(self.expectation)"
        }
        if let maximumLength, text.unicodeScalars.count > maximumLength {
            return "is longer than \(maximumLength) characters"
        }
        if self == .dnsLabel { return ResourceName.problem(with: text) }
        if let pattern, !PatternCache.shared.matches(pattern, text) {
            return "\"\(text)\" is not \(self.expectation)"
        }
        if self == .ipAddress, IPAddress.bytes(text) == nil {
            return "\"\(text)\" is not \(self.expectation)"
        }
        return nil
    }
}

/// Compiled patterns, built once per process.
final class PatternCache: @unchecked Sendable {
    static let shared = PatternCache()
    private let lock = NSLock()
    private var compiled: [String: NSRegularExpression] = [:]

    func matches(_ pattern: String, _ text: String) -> Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        let expression: NSRegularExpression
        if let cached = self.compiled[pattern] {
            expression = cached
        } else {
            expression = try! NSRegularExpression(pattern: pattern)  // the patterns are constants of this module
            self.compiled[pattern] = expression
        }
        let range = NSRange(text.startIndex..., in: text)
        return expression.firstMatch(in: text, range: range) != nil
    }
}

extension StringRule {
    public static let labelKey = StringRule(
        expectation: "a label key ([prefix/]name of letters, digits, '-', '_' and '.')",
        pattern: "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", maximumLength: 253)
    public static let labelValue = StringRule(
        expectation: "a label value (at most 63 letters, digits, '-', '_' and '.')",
        pattern: "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", maximumLength: 63)
}
