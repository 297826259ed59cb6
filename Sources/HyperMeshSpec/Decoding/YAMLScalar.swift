import Yams

/// What a YAML scalar means, resolved the way YAML 1.2's core schema does for the types
/// specs use. Quoted scalars are always strings; `yes`/`no` are strings, not booleans.
enum YAMLScalar {
    case string(String)
    case null
    case bool(Bool)
    case integer(Int64)
    /// A number with a fraction or exponent, kept as text so quantities stay exact.
    case decimal(String)
    /// An integer too large for 64 bits, kept as text.
    case bigInteger(String)

    init(_ scalar: Node.Scalar) {
        let text = scalar.string
        guard scalar.style == .plain || scalar.style == .any else {
            self = .string(text)
            return
        }
        switch text {
        case "", "~", "null", "Null", "NULL": self = .null
        case "true", "True", "TRUE": self = .bool(true)
        case "false", "False", "FALSE": self = .bool(false)
        default:
            if Self.isInteger(text) {
                if let number = Int64(text) { self = .integer(number) } else { self = .bigInteger(text) }
            } else if Self.isDecimal(text) {
                self = .decimal(text)
            } else {
                self = .string(text)
            }
        }
    }

    /// "a string", "an integer", …: how an error names what it found.
    var typeName: String {
        switch self {
        case .string: return "a string"
        case .null: return "nothing (null)"
        case .bool: return "a boolean"
        case .integer, .bigInteger: return "an integer"
        case .decimal: return "a decimal number"
        }
    }

    /// The text of a number or string, for fields (quantities) that accept either.
    var numberOrStringText: String? {
        switch self {
        case .string(let text), .decimal(let text), .bigInteger(let text): return text
        case .integer(let number): return String(number)
        case .null, .bool: return nil
        }
    }

    private static func isInteger(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        return !bytes.isEmpty && bytes.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    private static func isDecimal(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var sawDigit = false
        var sawDot = false
        var sawExponent = false
        var previous: UInt8 = 0
        for byte in bytes {
            switch byte {
            case 0x30...0x39: sawDigit = true
            case UInt8(ascii: "."): if sawDot || sawExponent { return false }; sawDot = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"): if sawExponent || !sawDigit { return false }; sawExponent = true
            case UInt8(ascii: "-"), UInt8(ascii: "+"):
                if previous != UInt8(ascii: "e") && previous != UInt8(ascii: "E") { return false }
            default: return false
            }
            previous = byte
        }
        return sawDigit && (sawDot || sawExponent)
    }
}

extension Node {
    /// How an error names this node's type.
    var typeName: String {
        switch self {
        case .scalar(let scalar): return YAMLScalar(scalar).typeName
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// The decoder's rule for plain scalars, for writers that must quote what would read back
/// as another type.
public enum PlainScalarRule {
    /// Whether `text`, written unquoted, reads back as the same string.
    public static func readsAsString(_ text: String) -> Bool {
        if case .string = YAMLScalar(Node.Scalar(text, Tag(.str), .plain)) { return true }
        return false
    }
}
