import Foundation
import HyperMeshCore

/// What an apply asks the store to hold for one object.
public struct DesiredObject: Sendable, Hashable {
    public var key: ResourceKey
    public var labels: [String: String]
    public var spec: JSONValue

    public init(key: ResourceKey, labels: [String: String], spec: JSONValue) {
        self.key = key
        self.labels = labels
        self.spec = spec
    }
}

/// One field that an apply changes, as `diff` prints it: `~ spec.cpu.cores: 2 -> 4`.
public struct FieldChange: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var old: JSONValue?
    public var new: JSONValue?

    public var description: String {
        switch (self.old, self.new) {
        case (nil, let new?): return "+ \(self.path): \(new.displayText)"
        case (let old?, nil): return "- \(self.path): \(old.displayText)"
        case (let old?, let new?): return "~ \(self.path): \(old.displayText) -> \(new.displayText)"
        case (nil, nil): return "~ \(self.path)"
        }
    }

    /// Every leaf that differs between two values, with dotted paths under `prefix`.
    public static func between(_ old: JSONValue?, _ new: JSONValue?, at prefix: String) -> [FieldChange] {
        if old == new { return [] }
        if case .object(let oldMembers)? = old, case .object(let newMembers)? = new {
            return Set(oldMembers.keys).union(newMembers.keys).sorted().flatMap { key in
                between(oldMembers[key], newMembers[key], at: prefix.isEmpty ? key : prefix + "." + key)
            }
        }
        return [FieldChange(path: prefix, old: old, new: new)]
    }
}

/// What an apply does (or, for `diff` and `--dry-run`, would do) to one object.
public struct ObjectChange: Sendable, Hashable {
    public enum Action: String, Sendable {
        case created, configured, unchanged, pruned
    }

    public var key: ResourceKey
    public var action: Action
    /// The fields that change; empty for `unchanged`.
    public var fields: [FieldChange]
    /// Whether the spec changes, so the generation goes up.
    public var specChanged: Bool

    /// The lines `diff` prints for this change.
    public var diffLines: [String] {
        switch self.action {
        case .unchanged: return []
        case .created: return ["+ \(self.key)"]
        case .pruned: return ["- \(self.key)"]
        case .configured: return ["~ \(self.key)"] + self.fields.map { "    \($0)" }
        }
    }
}

/// One status to write with ``StateStore/updateStatuses(_:)``.
public struct StatusUpdate: Sendable {
    public var key: ResourceKey
    public var status: ObjectStatus
    public var nextReconcileAt: Date?

    public init(key: ResourceKey, status: ObjectStatus, nextReconcileAt: Date?) {
        self.key = key
        self.status = status
        self.nextReconcileAt = nextReconcileAt
    }
}
