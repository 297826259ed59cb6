/// A share of what the host has, written as a percentage (`50%`, `12.5%`): a pool can offer half the cores
/// of whatever machine runs it. Resolved against discovery at reconcile time into an exact ``Quantity``.
///
/// Held exactly, in hundredths of a percent (basis points), greater than zero and at most 100 %.
public struct HostShare: Sendable, Hashable, CustomStringConvertible {
    /// The share in hundredths of a percent: `50%` is 5000, `12.5%` is 1250.
    public let basisPoints: Int64

    public static let whole: Int64 = 10_000

    public init?(basisPoints: Int64) {
        guard basisPoints > 0, basisPoints <= Self.whole else { return nil }
        self.basisPoints = basisPoints
    }

    /// Whether `text` is meant as a share (ends in `%`) rather than a quantity.
    public static func isShare(_ text: String) -> Bool { text.hasSuffix("%") }

    /// Parses `N%` or `N.NN%`, at most two decimals, above 0 and at most 100.
    ///
    /// - Throws: ``HostShareError`` saying why the text is not a share.
    public init(parsing text: String) throws(HostShareError) {
        guard text.hasSuffix("%") else { throw .malformed(text) }
        let number = text.dropLast()
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard !number.isEmpty, parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            throw .malformed(text)
        }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.count <= 2 else { throw .tooPrecise(text) }
        guard parts[0].count <= 4, let percent = Int64(parts[0]), let hundredths = Int64(fraction.padding(toLength: 2, withPad: "0", startingAt: 0)) else {
            throw .outOfRange(text)
        }
        let basisPoints = percent * 100 + hundredths
        guard basisPoints > 0 else { throw .zero(text) }
        guard basisPoints <= Self.whole else { throw .outOfRange(text) }
        self.basisPoints = basisPoints
    }

    /// The canonical text: `50%`, `12.5%`, `0.25%`.
    public var description: String {
        let percent = self.basisPoints / 100
        let hundredths = self.basisPoints % 100
        if hundredths == 0 { return "\(percent)%" }
        if hundredths % 10 == 0 { return "\(percent).\(hundredths / 10)%" }
        return "\(percent).\(hundredths < 10 ? "0" : "")\(hundredths)%"
    }

    /// This share of `total`, rounded down to a multiple of `granularity` (in the quantity's own units:
    /// 1 for whole bytes, 1 MiB for memory, a millicore is `Quantity(milliValue: 1)`), never below one
    /// `granularity` when `total` is at least that.
    public func of(_ total: Quantity, granularity: Quantity = Quantity(milliValue: 1)) -> Quantity {
        let step = max(granularity.milliValue, 1)
        // milli * bp / 10_000 without overflow for any quantity up to the maximum (≈ 8 PiB in milli units).
        let exact = total.milliValue.multipliedFullWidth(by: self.basisPoints)
        let share = Self.whole.dividingFullWidth(exact).quotient
        let rounded = share - share % step
        if rounded == 0 && total.milliValue >= step { return Quantity(milliValue: step) }
        return Quantity(milliValue: rounded)
    }
}

/// Why a text is not a ``HostShare``.
public enum HostShareError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case tooPrecise(String)
    case zero(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .malformed(let text): return "\"\(text)\" is not a share of the host (expected a percentage such as 50% or 12.5%)"
        case .tooPrecise(let text): return "\"\(text)\" has more than two decimals"
        case .zero(let text): return "\(text) offers nothing; it must be greater than 0%"
        case .outOfRange(let text): return "\(text) is more than the whole host (at most 100%)"
        }
    }
}
