/// A spec duration (`90s`, `15m`, `24h`, `1h30m`, `250ms`) held exactly in milliseconds.
///
/// Named apart from Swift's `Duration`, which it converts to with ``duration``.
public struct TimeSpan: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The length in milliseconds.
    public let milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public static func seconds(_ seconds: Int64) -> TimeSpan { TimeSpan(milliseconds: seconds * 1000) }
    public static func minutes(_ minutes: Int64) -> TimeSpan { TimeSpan(milliseconds: minutes * 60_000) }
    public static func hours(_ hours: Int64) -> TimeSpan { TimeSpan(milliseconds: hours * 3_600_000) }

    /// The same length as a Swift `Duration`.
    public var duration: Duration { .milliseconds(self.milliseconds) }
    /// The same length in seconds, for `Date` arithmetic.
    public var timeInterval: Double { Double(self.milliseconds) / 1000 }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.milliseconds < rhs.milliseconds }

    private static let units: [(String, Int64)] = [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]

    /// Parses one or more `NUMBER UNIT` terms (units `h`, `m`, `s`, `ms`; a term may have a
    /// decimal fraction, e.g. `1.5h`), as Go's `time.ParseDuration` does, to the millisecond.
    ///
    /// - Throws: ``TimeSpanError`` saying why the text is not a duration.
    public init(parsing text: String) throws(TimeSpanError) {
        var rest = Substring(text)
        guard !rest.isEmpty else { throw .malformed(text) }
        var total: Int64 = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let parts = number.split(separator: ".", omittingEmptySubsequences: false)
            guard !number.isEmpty, parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }) else { throw .malformed(text) }
            guard let scale = Self.units.first(where: { $0.0 == unit })?.1 else {
                throw unit.isEmpty ? .missingUnit(text) : .unknownUnit(text, unit: String(unit))
            }
            let digits = parts.joined()
            guard digits.count <= 15, let mantissa = Int64(digits) else { throw .outOfRange(text) }
            var divisor: Int64 = 1
            for _ in 0..<(parts.count == 2 ? parts[1].count : 0) { divisor *= 10 }
            let (scaled, overflow) = mantissa.multipliedReportingOverflow(by: scale)
            guard !overflow else { throw .outOfRange(text) }
            guard scaled % divisor == 0 else { throw .tooPrecise(text) }
            let (sum, overflow2) = total.addingReportingOverflow(scaled / divisor)
            guard !overflow2 else { throw .outOfRange(text) }
            total = sum
        }
        self.milliseconds = total
    }

    /// The canonical text, e.g. `1h30m`, `90s` → `1m30s`, `0s`.
    public var description: String {
        if self.milliseconds == 0 { return "0s" }
        var rest = self.milliseconds
        var text = ""
        for (unit, scale) in Self.units where rest >= scale {
            text += "\(rest / scale)\(unit)"
            rest %= scale
        }
        return text
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { self = try TimeSpan(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}

/// Why a text is not a ``TimeSpan``.
public enum TimeSpanError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case missingUnit(String)
    case unknownUnit(String, unit: String)
    case tooPrecise(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .malformed(let text):
            return "\"\(text)\" is not a duration (expected e.g. 90s, 15m, 24h, 1h30m)"
        case .missingUnit(let text):
            return "\"\(text)\" needs a unit (h, m, s or ms), e.g. 90s"
        case .unknownUnit(let text, let unit):
            return "\"\(text)\" has unknown unit \"\(unit)\" (use h, m, s or ms)"
        case .tooPrecise(let text):
            return "\"\(text)\" is finer than the smallest unit, 1ms"
        case .outOfRange(let text):
            return "\"\(text)\" is too long"
        }
    }
}
