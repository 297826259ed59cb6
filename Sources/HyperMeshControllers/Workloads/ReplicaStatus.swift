import Foundation
import HyperMeshCore

/// One replica's entry in a Workload's `status.replicas`, as Kubernetes shows a container's state.
struct ReplicaStatus: Sendable, Equatable {
    enum Phase: String, Sendable { case pending = "Pending", starting = "Starting", running = "Running", succeeded = "Succeeded"
        case failed = "Failed", backOff = "BackOff", terminating = "Terminating" }

    var index: Int
    var phase: Phase = .pending
    var containerID: String?
    var pid: Int32?
    var startedAt: Date?
    var finishedAt: Date?
    var exitCode: Int?
    var reason: String?
    var message: String?
    var restarts: Int = 0
    /// How many back-offs in a row (10 s × 2^n, at most 5 min); zero again once a run lasts 10 min.
    var backOffStep: Int = 0
    var nextStartAt: Date?
    /// The Workload generation and image the running container was made from.
    var generation: Int64?
    var imageID: String?
    /// The claim's OOM-kill counter when the container started: more at its end, and a SIGKILL is an OOM kill.
    var oomKillsAtStart: Int64?
    var stopRequestedAt: Date?
    /// Whether this run's end has been accounted (restart decided, event recorded).
    var exitRecorded = false

    init(index: Int) { self.index = index }

    init(json: JSONValue, index: Int) {
        self.index = index
        func date(_ key: String) -> Date? { json[key]?.stringValue.flatMap(TimestampMilliseconds.parse) }
        self.phase = json["phase"]?.stringValue.flatMap(Phase.init(rawValue:)) ?? .pending
        self.containerID = json["containerID"]?.stringValue
        self.pid = json["pid"]?.integerValue.map { Int32($0) }
        self.startedAt = date("startedAt")
        self.finishedAt = date("finishedAt")
        self.exitCode = json["exitCode"]?.integerValue.map { Int($0) }
        self.reason = json["reason"]?.stringValue
        self.message = json["message"]?.stringValue
        self.restarts = Int(json["restarts"]?.integerValue ?? 0)
        self.backOffStep = Int(json["backOffStep"]?.integerValue ?? 0)
        self.nextStartAt = date("nextStartAt")
        self.generation = json["generation"]?.integerValue
        self.imageID = json["imageID"]?.stringValue
        self.oomKillsAtStart = json["oomKillsAtStart"]?.integerValue
        self.stopRequestedAt = date("stopRequestedAt")
        self.exitRecorded = json["exitRecorded"]?.boolValue ?? false
    }

    func json(node: String) -> JSONValue {
        var fields: [String: JSONValue] = ["index": .integer(Int64(self.index)), "phase": .string(self.phase.rawValue),
                                           "restarts": .integer(Int64(self.restarts)), "node": .string(node)]
        func put(_ key: String, _ value: JSONValue?) { if let value { fields[key] = value } }
        put("containerID", self.containerID.map { .string($0) })
        put("pid", self.pid.map { .integer(Int64($0)) })
        put("startedAt", self.startedAt.map { .string(TimestampMilliseconds.format($0)) })
        put("finishedAt", self.finishedAt.map { .string(TimestampMilliseconds.format($0)) })
        put("exitCode", self.exitCode.map { .integer(Int64($0)) })
        put("reason", self.reason.map { .string($0) })
        put("message", self.message.map { .string($0) })
        if self.backOffStep > 0 { fields["backOffStep"] = .integer(Int64(self.backOffStep)) }
        put("nextStartAt", self.nextStartAt.map { .string(TimestampMilliseconds.format($0)) })
        put("generation", self.generation.map { .integer($0) })
        put("imageID", self.imageID.map { .string($0) })
        put("oomKillsAtStart", self.oomKillsAtStart.map { .integer($0) })
        put("stopRequestedAt", self.stopRequestedAt.map { .string(TimestampMilliseconds.format($0)) })
        if self.exitRecorded { fields["exitRecorded"] = true }
        return .object(fields)
    }

    /// A start that could not happen (no command, an unknown user, the shim or crun refused): `Failed` with reason
    /// `StartFailed`, accounted as ended, no restart planned.
    mutating func failToStart(_ message: String) {
        self.phase = .failed
        self.reason = "StartFailed"
        self.message = message
        self.exitRecorded = true
        self.nextStartAt = nil
    }

    /// The back-off before the next start: 10 s doubling, at most 5 min.
    static func backOff(step: Int) -> TimeInterval { min(300, 10 * pow(2, Double(min(step, 10)))) }
}

/// RFC 3339 with milliseconds: replica start and exit times are compared in tests and benchmarks at that grain.
enum TimestampMilliseconds {
    static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func parse(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))) ?? Timestamp.parse(text)
    }
}
