import Foundation
import HyperMeshCore

/// A replica's log as the shim writes it, one line per output line in the CRI logging format:
/// `2026-12-07T15:26:30.008238619Z stdout hi` (RFC 3339 with nanoseconds, the stream, the text).
public struct ContainerLogLine: Sendable, Equatable {
    public var time: Date
    public var stream: String
    public var text: String

    /// Parses one line; `nil` for one that is not in the format (a torn write, a foreign file).
    public init?(_ line: Substring) {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[1] == "stdout" || parts[1] == "stderr", let time = Self.parseTime(parts[0]) else { return nil }
        self.time = time
        self.stream = String(parts[1])
        self.text = parts.count > 2 ? String(parts[2]) : ""
    }

    /// `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`, read by hand: ISO 8601 parsers drop digits past milliseconds and are slow.
    static func parseTime(_ text: Substring) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard index < bytes.count, (48...57).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
            }
            return value
        }
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ bytes[$0.0] == $0.1.asciiValue }),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction = 0.0
        if bytes.count > 21, bytes[19] == UInt8(ascii: "."), let digits = number(20..<(bytes.count - 1)) {
            fraction = Double(digits) / pow(10, Double(bytes.count - 21))
        }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        (components.hour, components.minute, components.second) = (hour, minute, second)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: components).map { $0.addingTimeInterval(fraction) }
    }

    /// The lines of `files` (oldest first) at or after `since`, the last `tail` of them.
    public static func read(_ files: [String], since: Date? = nil, tail: Int? = nil) -> [ContainerLogLine] {
        var lines: [ContainerLogLine] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let parsed = ContainerLogLine(line), since.map({ parsed.time >= $0 }) ?? true else { continue }
                lines.append(parsed)
            }
        }
        if let tail, lines.count > tail { lines.removeFirst(lines.count - tail) }
        return lines
    }
}
