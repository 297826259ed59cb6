import Foundation

/// A status condition, as Kubernetes writes them: one observation about an object.
public struct Condition: Sendable, Hashable {
    /// `True`, `False` or `Unknown`.
    public enum Status: String, Sendable, Hashable {
        case `true` = "True"
        case `false` = "False"
        case unknown = "Unknown"
    }

    /// The condition types HyperMesh writes.
    public static let ready = "Ready"
    public static let progressing = "Progressing"
    public static let degraded = "Degraded"

    public var type: String
    public var status: Status
    /// A CamelCase word saying why, e.g. `NoController`.
    public var reason: String
    public var message: String
    /// The spec generation this condition was computed from.
    public var observedGeneration: Int64
    public var lastTransitionTime: Date

    public init(type: String, status: Status, reason: String, message: String = "",
                observedGeneration: Int64, lastTransitionTime: Date = Date()) {
        precondition(!reason.isEmpty && reason.first!.isUppercase, "a condition reason is CamelCase")
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        // Stored as RFC 3339 seconds; keep the same precision in memory so a read-back compares equal.
        self.lastTransitionTime = Date(timeIntervalSince1970: lastTransitionTime.timeIntervalSince1970.rounded(.down))
    }

    public var json: JSONValue {
        .object([
            "type": .string(self.type),
            "status": .string(self.status.rawValue),
            "reason": .string(self.reason),
            "message": .string(self.message),
            "observedGeneration": .integer(self.observedGeneration),
            "lastTransitionTime": .string(Timestamp.format(self.lastTransitionTime)),
        ])
    }

    public init(json: JSONValue) throws {
        guard let type = json["type"]?.stringValue,
              let status = json["status"]?.stringValue.flatMap(Status.init(rawValue:)),
              let reason = json["reason"]?.stringValue,
              let generation = json["observedGeneration"]?.integerValue,
              let time = json["lastTransitionTime"]?.stringValue.flatMap(Timestamp.parse)
        else { throw HyperMeshError.corruptData("a stored condition is incomplete: \(json.canonicalJSON)") }
        self.init(type: type, status: status, reason: reason, message: json["message"]?.stringValue ?? "",
                  observedGeneration: generation, lastTransitionTime: time)
    }
}

/// RFC 3339 timestamps in UTC, as status and events store them.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }

    /// RFC 3339 for milliseconds since the Unix epoch (how the mesh ledger keeps time).
    public static func format(millisecondsSince1970 milliseconds: Int64) -> String {
        self.format(Date(timeIntervalSince1970: TimeInterval(milliseconds) / 1000))
    }

    public static func parse(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601)
    }

    /// How long ago, as `kubectl get` shows age: `45s`, `12m`, `3h`, `5d`.
    public static func age(since date: Date, now: Date = Date()) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }
}
