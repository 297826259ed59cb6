/// A Kubernetes-style quantity (`500m`, `2`, `1.5`, `4Gi`, `200G`) held exactly.
///
/// The value is kept as an integer number of thousandths (``milliValue``), so bytes and
/// millicores are never rounded through floating point. Arithmetic traps on overflow is
/// avoided: ``adding(_:)`` and ``subtracting(_:)`` return `nil` instead.
public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The value in thousandths of a unit (1 core = 1000, 1 byte = 1000).
    public let milliValue: Int64

    /// The largest value a quantity can hold, in whole units (about 8 PiB).
    public static let maximumWholeValue: Int64 = Int64.max / 1000

    public init(milliValue: Int64) { self.milliValue = milliValue }

    /// A whole-unit quantity; `nil` when it does not fit.
    public init?(whole value: Int64) {
        let (milli, overflow) = value.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return nil }
        self.milliValue = milli
    }

    public static let zero = Quantity(milliValue: 0)

    /// Whether the value is a whole number of units.
    public var isWhole: Bool { self.milliValue % 1000 == 0 }
    /// The value in whole units, rounded toward zero.
    public var wholeValue: Int64 { self.milliValue / 1000 }
    /// Whether the value is below zero.
    public var isNegative: Bool { self.milliValue < 0 }

    public func adding(_ other: Quantity) -> Quantity? {
        let (sum, overflow) = self.milliValue.addingReportingOverflow(other.milliValue)
        return overflow ? nil : Quantity(milliValue: sum)
    }

    public func subtracting(_ other: Quantity) -> Quantity? {
        let (difference, overflow) = self.milliValue.subtractingReportingOverflow(other.milliValue)
        return overflow ? nil : Quantity(milliValue: difference)
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.milliValue < rhs.milliValue }

    // MARK: - Text

    private static let binarySuffixes: [(String, Int64)] = [
        ("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10),
    ]
    private static let decimalSuffixes: [(String, Int64)] = [
        ("E", 1_000_000_000_000_000_000), ("P", 1_000_000_000_000_000), ("T", 1_000_000_000_000),
        ("G", 1_000_000_000), ("M", 1_000_000), ("k", 1000),
    ]

    /// Parses the Kubernetes quantity forms: an optional sign, digits, an optional
    /// fraction, and an optional suffix (`m`, `k`, `M`, `G`, `T`, `P`, `E`, `Ki` … `Ei`).
    ///
    /// - Throws: ``QuantityError`` saying why the text is not a quantity.
    public init(parsing text: String) throws(QuantityError) {
        var rest = Substring(text)
        var negative = false
        if rest.first == "+" || rest.first == "-" {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let suffix = String(rest.dropFirst(number.count))
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard !number.isEmpty, parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }) else {
            throw .malformed(text)
        }
        let digits = parts.joined()
        let fractionDigits = parts.count == 2 ? parts[1].count : 0
        guard digits.count <= 18, let mantissa = Int64(digits) else { throw .outOfRange(text) }

        // milli = mantissa * multiplier * 1000 / 10^fractionDigits, exactly or not at all.
        var numerator: Int64
        if suffix == "m" {
            numerator = mantissa
        } else {
            let multiplier: Int64
            if suffix.isEmpty {
                multiplier = 1
            } else if let found = (Self.binarySuffixes + Self.decimalSuffixes).first(where: { $0.0 == suffix }) {
                multiplier = found.1
            } else {
                throw .unknownSuffix(text, suffix: suffix)
            }
            let (scaled, overflow1) = mantissa.multipliedReportingOverflow(by: multiplier)
            let (milli, overflow2) = scaled.multipliedReportingOverflow(by: 1000)
            guard !overflow1, !overflow2 else { throw .outOfRange(text) }
            numerator = milli
        }
        var divisor: Int64 = 1
        for _ in 0..<fractionDigits { divisor *= 10 }
        guard numerator % divisor == 0 else { throw .tooPrecise(text) }
        numerator /= divisor
        self.milliValue = negative ? -numerator : numerator
    }

    /// The canonical text: `500m` for fractions, otherwise the exact suffix (binary or
    /// decimal) that leaves the smallest number (`4Gi`, `200G`, `1536Mi`), else the plain integer.
    public var description: String {
        if !self.isWhole { return "\(self.milliValue)m" }
        let whole = self.wholeValue
        if whole == 0 { return "0" }
        let magnitude = whole.magnitude
        var best = ("", Int64(1))
        for (suffix, multiplier) in Self.binarySuffixes + Self.decimalSuffixes
        where magnitude >= UInt64(multiplier) && magnitude % UInt64(multiplier) == 0 && multiplier > best.1 {
            best = (suffix, multiplier)
        }
        return "\(whole / best.1)\(best.0)"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { self = try Quantity(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}

/// Why a text is not a ``Quantity``.
public enum QuantityError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case unknownSuffix(String, suffix: String)
    case tooPrecise(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .malformed(let text):
            return "\"\(text)\" is not a quantity (expected a number with an optional suffix, e.g. 500m, 2, 4Gi, 200G)"
        case .unknownSuffix(let text, let suffix):
            return "\"\(text)\" has unknown suffix \"\(suffix)\" (use m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi or Ei)"
        case .tooPrecise(let text):
            return "\"\(text)\" is finer than the smallest unit, 1m"
        case .outOfRange(let text):
            return "\"\(text)\" is too large"
        }
    }
}
