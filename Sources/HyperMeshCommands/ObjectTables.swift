import Foundation
import HyperMeshCore
import HyperMeshStore

/// The `get` table of each kind: the columns a person wants at a glance.
public enum ObjectTables {
    public static func table(for kind: Kind, objects: [StoredObject], qualifiedNames: Bool = false, now: Date = Date()) -> TextTable {
        if kind == .workload { return self.workloadTable(objects: objects, qualifiedNames: qualifiedNames, now: now) }
        let columns = self.columns(for: kind)
        var table = TextTable(headers: ["NAME"] + columns.map(\.header) + ["READY", "REASON", "AGE"])
        for object in objects where object.key.kind == kind {
            let name = qualifiedNames ? "\(kind.shortName)/\(object.key.name)" : object.key.name
            let ready = object.status?.condition(Condition.ready)
            let reason = object.deletionRequestedAt != nil ? "Terminating" : (ready?.reason ?? "Pending")
            table.append([name] + columns.map { $0.value(object) } + [object.readiness.rawValue, reason,
                                                                       Timestamp.age(since: object.createdAt, now: now)])
        }
        return table
    }

    /// Workloads as `kubectl get pods` shows pods: READY is running replicas of wanted ones.
    static func workloadTable(objects: [StoredObject], qualifiedNames: Bool, now: Date) -> TextTable {
        var table = TextTable(headers: ["NAME", "CLAIM", "NODE", "READY", "PHASE", "RESTARTS", "REASON", "AGE"])
        for object in objects where object.key.kind == .workload {
            let fields = object.status?.fields ?? [:]
            let wanted = object.spec["replicas"]?.integerValue ?? 1
            let reason = object.deletionRequestedAt != nil ? "Terminating" : (object.status?.condition(Condition.ready)?.reason ?? "Pending")
            table.append([qualifiedNames ? "workload/\(object.key.name)" : object.key.name, object.spec["claim"]?.displayText ?? "-",
                          fields["node"]?.stringValue.map { String($0.prefix(16)) } ?? "-", fields["ready"]?.stringValue ?? "0/\(wanted)",
                          fields["phase"]?.stringValue ?? "Pending", fields["restarts"]?.displayText ?? "0", reason,
                          Timestamp.age(since: object.createdAt, now: now)])
        }
        return table
    }

    struct Column {
        var header: String
        var value: (StoredObject) -> String
    }

    static func spec(_ path: String) -> (StoredObject) -> String {
        { $0.spec.value(atPath: path)?.displayText ?? "-" }
    }

    /// A pool's offer: the spec's quantity, or for a share of the host the capacity it resolved to (`1 (50%)`).
    static func offered(_ path: String, as capacityField: String) -> (StoredObject) -> String {
        { object in
            guard let text = object.spec.value(atPath: path)?.displayText else { return "-" }
            guard HostShare.isShare(text) else { return text }
            guard let resolved = object.status?.fields["capacity"]?[capacityField]?.displayText else { return text }
            return "\(resolved) (\(text))"
        }
    }

    static func status(_ path: String) -> (StoredObject) -> String {
        { $0.status?.fields[path]?.displayText ?? "-" }
    }

    static func columns(for kind: Kind) -> [Column] {
        switch kind {
        case .resourcePool:
            return [Column(header: "PRIVACY", value: spec("privacy")), Column(header: "CPU", value: offered("cpu.cores", as: "cpu")),
                    Column(header: "MEMORY", value: offered("memory.size", as: "memory")),
                    Column(header: "STORAGE", value: offered("storage.size", as: "storage")),
                    Column(header: "GPU", value: { $0.spec.value(atPath: "gpu.devices")?.arrayValue.map { "\($0.count)" } ?? "-" })]
        case .claim:
            return [Column(header: "POOL", value: spec("pool")), Column(header: "CPU", value: spec("cpu")),
                    Column(header: "MEMORY", value: spec("memory")), Column(header: "STORAGE", value: spec("storage")),
                    Column(header: "PROVIDER", value: { object in
                        // Placed through the mesh ledger: the provider's node id; this node's pools otherwise.
                        object.spec["node"]?.stringValue.map { String($0.prefix(16)) } ?? "local"
                    }),
                    Column(header: "PHASE", value: status("phase"))]
        case .mirrorPolicy:
            return [Column(header: "SOURCE", value: spec("source")),
                    Column(header: "ERASURE", value: { object in
                        let data = object.spec.value(atPath: "erasure.data")?.integerValue ?? 10
                        let parity = object.spec.value(atPath: "erasure.parity")?.integerValue ?? 4
                        return "\(data)+\(parity)"
                    })]
        case .certificatePolicy:
            return [Column(header: "COMMON-NAME", value: spec("commonName")),
                    Column(header: "DURATION", value: { $0.spec["duration"]?.displayText ?? "24h" }),
                    Column(header: "NOT-AFTER", value: status("notAfter"))]
        case .workload:
            return []
        case .mesh:
            return [Column(header: "NODE", value: spec("node.name")),
                    Column(header: "NODE-ID", value: { $0.status?.fields["nodeId"]?.stringValue.map { String($0.prefix(16)) } ?? "-" }),
                    Column(header: "LISTEN", value: status("listen"))]
        }
    }
}
