import Foundation
import GRDB
import HyperMeshCore

extension StateStore {
    static let selectObjectsSQL = """
        SELECT o.kind, o.name, o.uid, o.labels, o.spec, o.generation, o.resource_version, o.created_at, o.updated_at,
               o.deletion_requested_at, i.applyset, s.status, s.next_reconcile_at
        FROM objects o
        LEFT JOIN inventory i ON i.kind = o.kind AND i.name = o.name
        LEFT JOIN statuses s ON s.kind = o.kind AND s.name = o.name
        """

    /// The object with `key`, or `nil`.
    public func object(_ key: ResourceKey) throws -> StoredObject? {
        try self.read { db in
            try Row.fetchOne(db.cachedStatement(sql: Self.selectObjectsSQL + " WHERE o.kind = ? AND o.name = ?"),
                             arguments: [key.kind.rawValue, key.name]).map(Self.decodeObject)
        }
    }

    /// Every object (of `kind`, when given), in dependency order of kinds, then by name.
    public func objects(of kind: Kind? = nil) throws -> [StoredObject] {
        try self.read { db in
            let rows: [Row]
            if let kind {
                rows = try Row.fetchAll(db, sql: Self.selectObjectsSQL + " WHERE o.kind = ?", arguments: [kind.rawValue])
            } else {
                rows = try Row.fetchAll(db, sql: Self.selectObjectsSQL)
            }
            return try rows.map(Self.decodeObject).sorted { $0.key < $1.key }
        }
    }

    static func decodeObject(_ row: Row) throws -> StoredObject {
        let kindName: String = row["kind"]
        guard let kind = Kind(rawValue: kindName) else { throw HyperMeshError.corruptData("unknown kind \(kindName) in state") }
        let key = ResourceKey(kind: kind, name: row["name"])
        func date(_ column: String) throws -> Date {
            let text: String = row[column]
            guard let date = Timestamp.parse(text) else { throw HyperMeshError.corruptData("\(key): bad \(column) \(text)") }
            return date
        }
        let labelsJSON = try JSONValue(parsingJSON: row["labels"])
        let statusText: String? = row["status"]
        let nextText: String? = row["next_reconcile_at"]
        let deletionText: String? = row["deletion_requested_at"]
        return StoredObject(
            key: key, uid: row["uid"], labels: (labelsJSON.objectValue ?? [:]).compactMapValues(\.stringValue),
            spec: try JSONValue(parsingJSON: row["spec"]), generation: row["generation"],
            resourceVersion: row["resource_version"], createdAt: try date("created_at"), updatedAt: try date("updated_at"),
            deletionRequestedAt: deletionText.flatMap(Timestamp.parse), applyset: row["applyset"],
            status: try statusText.map { try ObjectStatus(json: JSONValue(parsingJSON: $0)) },
            nextReconcileAt: nextText.flatMap(Timestamp.parse))
    }

    /// Objects that need a reconcile now: never reconciled, spec newer than the status,
    /// deletion requested, or a requeue time that has come.
    public func keysDue(at now: Date = Date()) throws -> [ResourceKey] {
        try self.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT o.kind, o.name FROM objects o LEFT JOIN statuses s ON s.kind = o.kind AND s.name = o.name
                WHERE s.kind IS NULL OR s.observed_generation < o.generation OR o.deletion_requested_at IS NOT NULL
                   OR (s.next_reconcile_at IS NOT NULL AND s.next_reconcile_at <= ?)
                """, arguments: [Timestamp.format(now)])
            return try rows.map { row in
                guard let kind = Kind(rawValue: row[0]) else { throw HyperMeshError.corruptData("unknown kind \(row[0] as String) in state") }
                return ResourceKey(kind: kind, name: row[1])
            }.sorted()
        }
    }

    // MARK: - Deletion

    /// Marks objects for deletion, all or none: when any is missing nothing is marked and
    /// ``HyperMeshError`` `notFound` names the missing ones. Controllers clean up, then
    /// ``removeObject(_:)`` removes them.
    public func requestDeletion(of keys: [ResourceKey]) throws {
        try self.write { db in
            let exists = try db.cachedStatement(sql: "SELECT 1 FROM objects WHERE kind = ? AND name = ?")
            let missing = try keys.filter { try Int.fetchOne(exists, arguments: [$0.kind.rawValue, $0.name]) == nil }
            guard missing.isEmpty else {
                throw HyperMeshError.notFound(missing.map { "\($0.kind.rawValue) \"\($0.name)\" not found" }.joined(separator: "; "))
            }
            let now = Timestamp.format(Date())
            var resourceVersion = try Self.resourceVersion(db)
            for key in keys {
                resourceVersion += 1
                try db.execute(sql: """
                    UPDATE objects SET deletion_requested_at = coalesce(deletion_requested_at, ?), resource_version = ?
                    WHERE kind = ? AND name = ?
                    """, arguments: [now, resourceVersion, key.kind.rawValue, key.name])
                try Self.insertEvent(db, key: key, type: .normal, reason: "DeletionRequested", message: "deletion requested", time: now)
            }
            try Self.setResourceVersion(resourceVersion, db)
        }
    }

    /// Removes an object whose deletion was requested, with its status and inventory entry.
    /// Returns `false` when it is gone already or was re-applied meanwhile.
    @discardableResult
    public func removeObject(_ key: ResourceKey) throws -> Bool {
        try self.write { db in
            try db.cachedStatement(sql: "DELETE FROM objects WHERE kind = ? AND name = ? AND deletion_requested_at IS NOT NULL")
                .execute(arguments: [key.kind.rawValue, key.name])
            guard db.changesCount > 0 else { return false }
            try Self.insertEvent(db, key: key, type: .normal, reason: "Deleted", message: "cleaned up and removed",
                                 time: Timestamp.format(Date()))
            return true
        }
    }

    // MARK: - Status

    /// Writes an object's status when it differs from what is stored (so a quiet pass writes
    /// nothing). Returns `false` when the object no longer exists.
    @discardableResult
    public func updateStatus(_ key: ResourceKey, to status: ObjectStatus, nextReconcileAt: Date?) throws -> Bool {
        try self.updateStatuses([StatusUpdate(key: key, status: status, nextReconcileAt: nextReconcileAt)])[0]
    }

    /// Writes many statuses in one transaction, each only when it differs from what is stored.
    /// Returns, per update, whether its object still exists.
    @discardableResult
    public func updateStatuses(_ updates: [StatusUpdate]) throws -> [Bool] {
        guard !updates.isEmpty else { return [] }
        return try self.write { db in
            let exists = try db.cachedStatement(sql: "SELECT 1 FROM objects WHERE kind = ? AND name = ?")
            let select = try db.cachedStatement(sql: "SELECT status, next_reconcile_at FROM statuses WHERE kind = ? AND name = ?")
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO statuses (kind, name, status, observed_generation, next_reconcile_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (kind, name) DO UPDATE SET status = excluded.status,
                observed_generation = excluded.observed_generation, next_reconcile_at = excluded.next_reconcile_at,
                updated_at = excluded.updated_at
                """)
            let bump = try db.cachedStatement(sql: "UPDATE objects SET resource_version = ? WHERE kind = ? AND name = ?")
            let now = Timestamp.format(Date())
            var resourceVersion = try Self.resourceVersion(db)
            var results: [Bool] = []
            results.reserveCapacity(updates.count)
            for update in updates {
                let arguments: StatementArguments = [update.key.kind.rawValue, update.key.name]
                guard try Int.fetchOne(exists, arguments: arguments) != nil else {
                    results.append(false)
                    continue
                }
                results.append(true)
                let statusText = update.status.json.canonicalJSON
                let nextText = update.nextReconcileAt.map(Timestamp.format)
                let stored = try Row.fetchOne(select, arguments: arguments)
                if let stored, stored[0] as String == statusText, stored[1] as String? == nextText { continue }
                try upsert.execute(arguments: arguments + [statusText, update.status.observedGeneration, nextText, now])
                if stored?[0] as String? != statusText {
                    resourceVersion += 1
                    try bump.execute(arguments: [resourceVersion] + arguments)
                }
            }
            try Self.setResourceVersion(resourceVersion, db)
            return results
        }
    }

    /// The stored objects among `keys` (missing ones are left out), in one read.
    public func objects(_ keys: [ResourceKey]) throws -> [StoredObject] {
        try self.read { db in
            let statement = try db.cachedStatement(sql: Self.selectObjectsSQL + " WHERE o.kind = ? AND o.name = ?")
            return try keys.compactMap { key in
                try Row.fetchOne(statement, arguments: [key.kind.rawValue, key.name]).map(Self.decodeObject)
            }
        }
    }

    // MARK: - Events

    /// Records an event about `key`.
    public func recordEvent(_ key: ResourceKey, type: StoredEvent.EventType, reason: String, message: String) throws {
        try self.write { db in
            try Self.insertEvent(db, key: key, type: type, reason: reason, message: message, time: Timestamp.format(Date()))
        }
    }

    /// The latest `limit` events about `key` (or about everything), oldest first.
    public func events(for key: ResourceKey? = nil, limit: Int = 20) throws -> [StoredEvent] {
        try self.read { db in
            let rows: [Row]
            if let key {
                rows = try Row.fetchAll(db, sql: """
                    SELECT * FROM events WHERE kind = ? AND name = ? ORDER BY id DESC LIMIT ?
                    """, arguments: [key.kind.rawValue, key.name, limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM events ORDER BY id DESC LIMIT ?", arguments: [limit])
            }
            return try rows.reversed().map { row in
                guard let kind = Kind(rawValue: row["kind"]), let type = StoredEvent.EventType(rawValue: row["type"]),
                      let time = Timestamp.parse(row["time"]) else { throw HyperMeshError.corruptData("bad event row \(row)") }
                return StoredEvent(id: row["id"], time: time, key: ResourceKey(kind: kind, name: row["name"]), type: type,
                                   reason: row["reason"], message: row["message"])
            }
        }
    }
}

extension StateStore {
    /// What the agent should reconcile now: ``keysDue(at:)`` minus objects backing off after a failure
    /// (their `nextReconcileAt` still ahead), so a failing object is retried on its back-off schedule and
    /// not on every poll.
    public func keysDueRespectingBackoff(at now: Date = Date()) throws -> [ResourceKey] {
        try self.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT o.kind, o.name FROM objects o LEFT JOIN statuses s ON s.kind = o.kind AND s.name = o.name
                WHERE (s.next_reconcile_at IS NULL OR s.next_reconcile_at <= ?)
                  AND (s.kind IS NULL OR s.observed_generation < o.generation OR o.deletion_requested_at IS NOT NULL
                       OR s.next_reconcile_at IS NOT NULL)
                """, arguments: [Timestamp.format(now)])
            return try rows.map { row in
                guard let kind = Kind(rawValue: row[0]) else { throw HyperMeshError.corruptData("unknown kind \(row[0] as String) in state") }
                return ResourceKey(kind: kind, name: row[1])
            }.sorted()
        }
    }
}
