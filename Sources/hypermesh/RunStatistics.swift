import Foundation

/// The runs of one measurement, as a benchmark should report them: every value, the median, the spread.
struct RunStatistics {
    let values: [Double]

    var median: Double {
        let sorted = self.values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    var minimum: Double { self.values.min() ?? 0 }
    var maximum: Double { self.values.max() ?? 0 }

    /// (max − min) / median: how far apart the runs are, relative to their middle.
    var spread: Double { self.median == 0 ? 0 : (self.maximum - self.minimum) / self.median }
}

/// The machine's load averages (1, 5 and 15 minutes) from `/proc/loadavg`; `nil` where there is none.
enum LoadAverage {
    static func read() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
