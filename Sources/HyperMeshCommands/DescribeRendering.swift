import Foundation
import HyperMeshCore
import HyperMeshStore

/// `describe`: one object's spec, status, conditions and recent events, for people.
public enum DescribeRendering {
    public static func render(_ object: StoredObject, events: [StoredEvent], now: Date = Date()) -> String {
        var lines: [String] = []
        func field(_ name: String, _ value: String) {
            let label = name + ":"  // values line up at column 21; a longer label keeps one space before its value
            lines.append(label + String(repeating: " ", count: max(1, 20 - label.count)) + value)
        }
        field("Name", object.key.name)
        field("Kind", object.key.kind.rawValue)
        field("Labels", object.labels.isEmpty ? "<none>" : object.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            .joined(separator: ","))
        field("UID", object.uid)
        field("Generation", String(object.generation))
        field("Resource Version", String(object.resourceVersion))
        field("Created", "\(Timestamp.format(object.createdAt)) (\(Timestamp.age(since: object.createdAt, now: now)) ago)")
        field("Apply Set", object.applyset ?? "<none>")
        if let deletion = object.deletionRequestedAt { field("Deletion Requested", Timestamp.format(deletion)) }
        if let next = object.nextReconcileAt { field("Next Reconcile", Timestamp.format(next)) }
        lines.append("Spec:")
        lines += self.indented(YAMLRendering.render(object.spec))
        lines.append("Status:")
        if let status = object.status {
            field("  Observed Generation", String(status.observedGeneration))
            if !status.fields.isEmpty { lines += self.indented(YAMLRendering.render(.object(status.fields))) }
            lines.append("Conditions:")
            var table = TextTable(headers: ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"])
            for condition in status.conditions {
                table.append([condition.type, condition.status.rawValue, condition.reason,
                              Timestamp.age(since: condition.lastTransitionTime, now: now), condition.message])
            }
            lines += self.indented(table.rendered)
        } else {
            lines.append("  <not reconciled yet>")
        }
        lines.append("Events:")
        if events.isEmpty {
            lines.append("  <none>")
        } else {
            var table = TextTable(headers: ["AGE", "TYPE", "REASON", "MESSAGE"])
            for event in events {
                table.append([Timestamp.age(since: event.time, now: now), event.type.rawValue, event.reason, event.message])
            }
            lines += self.indented(table.rendered)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func indented(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0).map { "  " + $0 }
    }
}
