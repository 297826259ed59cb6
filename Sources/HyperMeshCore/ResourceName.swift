/// Rules for object names and labels, shared by the spec decoder and the command line.
public enum ResourceName {
    /// The longest DNS label.
    public static let maximumLength = 63
    /// The JSON Schema pattern of a DNS label.
    public static let pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

    /// Why `name` is not a DNS label, or `nil` when it is one.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > Self.maximumLength {
            return "\"\(name)\" is longer than \(Self.maximumLength) characters"
        }
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        if !allowed || !isLowerAlphanumeric(bytes.first!) || !isLowerAlphanumeric(bytes.last!) {
            return "\"\(name)\" is not a DNS label (lowercase letters, digits and '-', "
                + "starting and ending with a letter or digit)"
        }
        return nil
    }

    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}
