import Foundation
import GRDB
import HyperMeshCore

/// How an apply treats ownership and pruning.
public struct ApplyOptions: Sendable {
    /// The apply set that will own every applied object.
    public var applyset: String?
    /// Delete objects owned by ``applyset`` that this apply no longer names.
    public var prune: Bool
    /// Compute the changes without writing them.
    public var dryRun: Bool

    public init(applyset: String? = nil, prune: Bool = false, dryRun: Bool = false) {
        precondition(!prune || applyset != nil, "pruning needs an apply set")
        self.applyset = applyset
        self.prune = prune
        self.dryRun = dryRun
    }
}

extension StateStore {
    /// Stores `desired` in one transaction and returns what changed for each object, in the
    /// order given, followed by pruned objects. With `dryRun` nothing is written and the
    /// same changes are returned (this is `diff`).
    @discardableResult
    public func apply(_ desired: [DesiredObject], options: ApplyOptions = ApplyOptions()) throws -> [ObjectChange] {
        // Serialized before the transaction, on every core: the write lock is held only to compare and write.
        let texts = Self.canonicalTexts(of: desired)
        if options.dryRun {
            return try self.read { db in try Self.planApply(desired, texts: texts, options: options, db: db).map(\.change) }
        }
        return try self.write { db in
            let planned = try Self.planApply(desired, texts: texts, options: options, db: db)
            try Self.execute(planned, options: options, db: db)
            return planned.map(\.change)
        }
    }

    private struct PlannedChange {
        var change: ObjectChange
        var desired: DesiredObject?
        var specText: String
        var labelsText: String
    }

    /// Each object's spec and labels as canonical JSON (what the store keeps and compares), computed in
    /// chunks in parallel when there are many.
    static func canonicalTexts(of desired: [DesiredObject]) -> [(spec: String, labels: String)] {
        @Sendable func texts(_ object: DesiredObject) -> (spec: String, labels: String) {
            (object.spec.canonicalJSON, JSONValue.object(object.labels.mapValues(JSONValue.string)).canonicalJSON)
        }
        let chunkSize = 512
        guard desired.count > chunkSize else { return desired.map(texts) }
        let chunks = (desired.count + chunkSize - 1) / chunkSize
        let results = ChunkResults<(spec: String, labels: String)>(count: chunks)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (chunk * chunkSize)..<min(desired.count, (chunk + 1) * chunkSize)
            results.set(chunk, desired[range].map(texts))
        }
        return results.joined()
    }

    private static func planApply(_ desired: [DesiredObject], texts: [(spec: String, labels: String)], options: ApplyOptions,
                                  db: Database) throws -> [PlannedChange] {
        let select = try db.cachedStatement(sql: """
            SELECT o.spec, o.labels, o.deletion_requested_at, i.applyset FROM objects o
            LEFT JOIN inventory i ON i.kind = o.kind AND i.name = o.name WHERE o.kind = ? AND o.name = ?
            """)
        var planned: [PlannedChange] = []
        planned.reserveCapacity(desired.count)
        for (object, text) in zip(desired, texts) {
            let (specText, labelsText) = text
            guard let row = try Row.fetchOne(select, arguments: [object.key.kind.rawValue, object.key.name]) else {
                let change = ObjectChange(key: object.key, action: .created, fields: [], specChanged: true)
                planned.append(PlannedChange(change: change, desired: object, specText: specText, labelsText: labelsText))
                continue
            }
            let oldSpec: String = row[0]
            let oldLabels: String = row[1]
            let deletionRequested: String? = row[2]
            let oldApplyset: String? = row[3]
            var fields: [FieldChange] = []
            if oldSpec != specText {
                fields += FieldChange.between(try JSONValue(parsingJSON: oldSpec), object.spec, at: "spec")
            }
            if oldLabels != labelsText {
                fields += FieldChange.between(try JSONValue(parsingJSON: oldLabels), .object(object.labels.mapValues(JSONValue.string)),
                                              at: "metadata.labels")
            }
            if let applyset = options.applyset, applyset != oldApplyset {
                fields.append(FieldChange(path: "metadata.applyset", old: oldApplyset.map(JSONValue.string), new: .string(applyset)))
            }
            if let deletionRequested {
                fields.append(FieldChange(path: "metadata.deletionTimestamp", old: .string(deletionRequested), new: nil))
            }
            let change = ObjectChange(key: object.key, action: fields.isEmpty ? .unchanged : .configured, fields: fields,
                                      specChanged: oldSpec != specText || deletionRequested != nil)
            planned.append(PlannedChange(change: change, desired: object, specText: specText, labelsText: labelsText))
        }
        if options.prune, let applyset = options.applyset {
            let named = Set(desired.map(\.key))
            let owned = try Row.fetchAll(db, sql: """
                SELECT i.kind, i.name FROM inventory i JOIN objects o ON o.kind = i.kind AND o.name = i.name
                WHERE i.applyset = ? AND o.deletion_requested_at IS NULL ORDER BY i.kind, i.name
                """, arguments: [applyset])
            for row in owned {
                guard let kind = Kind(rawValue: row[0]) else { throw HyperMeshError.corruptData("unknown kind \(row[0] as String) in inventory") }
                let key = ResourceKey(kind: kind, name: row[1])
                guard !named.contains(key) else { continue }
                let change = ObjectChange(key: key, action: .pruned, fields: [], specChanged: false)
                planned.append(PlannedChange(change: change, desired: nil, specText: "", labelsText: ""))
            }
        }
        return planned
    }

    private static func execute(_ planned: [PlannedChange], options: ApplyOptions, db: Database) throws {
        let now = Timestamp.format(Date())
        var resourceVersion = try Self.resourceVersion(db)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO objects (kind, name, uid, labels, spec, generation, resource_version, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)
            """)
        let update = try db.cachedStatement(sql: """
            UPDATE objects SET labels = ?, spec = ?, generation = generation + ?, resource_version = ?, updated_at = ?,
            deletion_requested_at = NULL WHERE kind = ? AND name = ?
            """)
        let own = try db.cachedStatement(sql: """
            INSERT INTO inventory (kind, name, applyset) VALUES (?, ?, ?)
            ON CONFLICT (kind, name) DO UPDATE SET applyset = excluded.applyset
            """)
        let markDeleted = try db.cachedStatement(sql: """
            UPDATE objects SET deletion_requested_at = ?, resource_version = ? WHERE kind = ? AND name = ?
            """)
        for item in planned where item.change.action != .unchanged {
            let key = item.change.key
            resourceVersion += 1
            switch item.change.action {
            case .created:
                try insert.execute(arguments: [key.kind.rawValue, key.name, UUID().uuidString.lowercased(), item.labelsText,
                                               item.specText, resourceVersion, now, now])
                try Self.insertEvent(db, key: key, type: .normal, reason: "Created", message: "created by apply", time: now)
            case .configured:
                try update.execute(arguments: [item.labelsText, item.specText, item.change.specChanged ? 1 : 0, resourceVersion,
                                               now, key.kind.rawValue, key.name])
                let what = item.change.fields.map(\.path).joined(separator: ", ")
                try Self.insertEvent(db, key: key, type: .normal, reason: "Configured", message: "changed \(what)", time: now)
            case .pruned:
                try markDeleted.execute(arguments: [now, resourceVersion, key.kind.rawValue, key.name])
                try Self.insertEvent(db, key: key, type: .normal, reason: "Pruned",
                                     message: "no longer in apply set \(options.applyset ?? "")", time: now)
            case .unchanged:
                break
            }
            if item.change.action != .pruned, let applyset = options.applyset {
                try own.execute(arguments: [key.kind.rawValue, key.name, applyset])
            }
        }
        try Self.setResourceVersion(resourceVersion, db)
        try db.execute(sql: "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?", arguments: [Self.maximumEventCount])
    }

    static func resourceVersion(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM counters WHERE name = 'resource_version'")) ?? 0
    }

    static func setResourceVersion(_ value: Int64, _ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE counters SET value = ? WHERE name = 'resource_version'").execute(arguments: [value])
    }

    static func insertEvent(_ db: Database, key: ResourceKey, type: StoredEvent.EventType, reason: String,
                            message: String, time: String) throws
    {
        try db.cachedStatement(sql: "INSERT INTO events (time, kind, name, type, reason, message) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [time, key.kind.rawValue, key.name, type.rawValue, reason, message])
    }
}

/// Results of chunks computed concurrently, joined in chunk order.
final class ChunkResults<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [[Element]]

    init(count: Int) { self.chunks = Array(repeating: [], count: count) }

    func set(_ index: Int, _ elements: [Element]) { self.lock.withLock { self.chunks[index] = elements } }

    func joined() -> [Element] { self.lock.withLock { self.chunks.flatMap { $0 } } }
}
