/// What a simulated run did and whether it was safe and live.
public struct SimulationReport: Sendable {
    public let configuration: SimulationConfiguration
    public var behaviors: [Replica.Behavior] = []
    public var safetyViolations: [String] = []
    public var livenessViolations: [String] = []
    public var committedHeight = 0
    public var committedOperations = 0
    public var views: UInt64 = 0
    public var timeouts = 0
    public var messagesSent = 0
    public var messagesDropped = 0
    public var messagesDuplicated = 0
    public var crashes = 0
    public var refusals = 0
    public var endedAt: UInt64 = 0
    /// Submit-to-first-honest-commit, simulated milliseconds, sorted.
    public var latencies: [UInt64] = []
    /// With ``SimulationConfiguration/trace``: one line per event.
    public var trace: [String] = []

    public init(configuration: SimulationConfiguration) {
        self.configuration = configuration
    }

    public var passed: Bool { self.safetyViolations.isEmpty && self.livenessViolations.isEmpty }

    func percentile(_ p: Double) -> UInt64 {
        guard !self.latencies.isEmpty else { return 0 }
        return self.latencies[min(self.latencies.count - 1, Int(Double(self.latencies.count - 1) * p + 0.5))]
    }

    /// The report as the CLI prints it; the same for the same seed.
    public var text: String {
        let configuration = self.configuration
        let byzantine = self.behaviors.enumerated().filter { $0.element != .honest }.map { "\($0.offset):\($0.element.rawValue)" }
        var lines = [
            "seed \(configuration.seed): \(configuration.validators) validators, \(configuration.byzantine) byzantine"
                + (byzantine.isEmpty ? "" : " (\(byzantine.joined(separator: ", ")))")
                + ", \(configuration.operations) operations, drop \(configuration.drop), duplicate \(configuration.duplicate)"
                + (configuration.partition ? ", partition" : "") + (configuration.crashes ? ", crashes" : "")
                + (configuration.brokenRule.map { ", BROKEN RULE: \($0.rawValue)" } ?? ""),
            "  committed: height \(self.committedHeight), \(self.committedOperations)/\(configuration.operations) operations on every honest validator",
            "  views: \(self.views), timeouts \(self.timeouts), refusals \(self.refusals), crashes \(self.crashes)",
            "  messages: \(self.messagesSent) sent, \(self.messagesDropped) dropped, \(self.messagesDuplicated) duplicated",
            "  commit latency (simulated): p50 \(self.percentile(0.5)) ms, p99 \(self.percentile(0.99)) ms; ended at \(self.endedAt) ms",
        ]
        lines.append("  safety: " + (self.safetyViolations.isEmpty ? "ok" : "VIOLATED"))
        lines += self.safetyViolations.map { "    " + $0 }
        lines.append("  liveness: " + (self.livenessViolations.isEmpty ? "ok" : "VIOLATED"))
        lines += self.livenessViolations.map { "    " + $0 }
        return lines.joined(separator: "\n")
    }
}
