import Foundation
import GRDB
import HyperMeshCore

/// Where a reader of ``StateStore/changes(of:since:)`` got to: the store's resource version and the
/// last removal it saw.
public struct ChangeCursor: Sendable, Hashable {
    public var resourceVersion: Int64
    public var removalID: Int64

    public init(resourceVersion: Int64, removalID: Int64) {
        self.resourceVersion = resourceVersion
        self.removalID = removalID
    }
}

/// What changed for one kind since a cursor, read in one snapshot.
public struct ObjectChanges: Sendable {
    /// `true`: `changed` is every object of the kind (the first read, or the reader fell too far behind);
    /// whatever the reader held before is to be dropped.
    public var isFullListing: Bool
    /// Objects written (spec, status, deletion mark, labels) after the cursor, as stored now.
    public var changed: [StoredObject]
    /// Names of objects removed after the cursor (some may exist again: then they are in `changed` too).
    public var removed: [String]
    /// Where the next read starts.
    public var cursor: ChangeCursor
}

/// What an object's spec is at: enough to tell whether a cache built from specs must read it again.
public struct SpecMark: Sendable, Hashable {
    public var generation: Int64
    public var deleting: Bool

    public init(generation: Int64, deleting: Bool) {
        self.generation = generation
        self.deleting = deleting
    }
}

/// ``ObjectChanges`` without the objects: for each object written since the cursor (spec or status), only
/// its ``SpecMark``.
public struct SpecMarkChanges: Sendable {
    public var isFullListing: Bool
    public var changed: [(name: String, mark: SpecMark)]
    public var removed: [String]
    public var cursor: ChangeCursor
}

extension StateStore {
    /// As ``changes(of:since:)``, reading only names, generations and deletion marks: a status write to ten
    /// thousand objects costs ten thousand small rows here, not ten thousand decoded objects.
    public func specMarkChanges(of kind: Kind, since cursor: ChangeCursor?) throws -> SpecMarkChanges {
        let sql = "SELECT o.name, o.generation, o.deletion_requested_at IS NOT NULL FROM objects o"
        let decode: (Row) -> (name: String, mark: SpecMark) = { row in
            (row[0], SpecMark(generation: row[1], deleting: row[2]))
        }
        let (full, changed, removed, next) = try self.changedRows(of: kind, since: cursor, select: sql, decode: decode)
        return SpecMarkChanges(isFullListing: full, changed: changed, removed: removed, cursor: next)
    }

    /// The cursor logic both feeds share: a full listing when there is no cursor or it fell too far behind.
    private func changedRows<Item>(of kind: Kind, since cursor: ChangeCursor?, select: String, decode: @escaping (Row) throws -> Item)
        throws -> (full: Bool, changed: [Item], removed: [String], cursor: ChangeCursor)
    {
        try self.read { db in
            let resourceVersion = try Self.resourceVersion(db)
            let lastRemoval = try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(id), 0) FROM removed_objects")) ?? 0
            let next = ChangeCursor(resourceVersion: resourceVersion, removalID: lastRemoval)
            let oldestRemoval = try Int64.fetchOne(db.cachedStatement(sql: "SELECT min(id) FROM removed_objects"))
            guard let cursor, oldestRemoval.map({ $0 <= cursor.removalID + 1 }) ?? true, cursor.removalID <= lastRemoval,
                  cursor.resourceVersion <= resourceVersion
            else {
                let rows = try Row.fetchAll(db.cachedStatement(sql: select + " WHERE o.kind = ?"), arguments: [kind.rawValue])
                return (true, try rows.map(decode), [], next)
            }
            // Statements are cached: compiling one (and GRDB's authorizer watching it compile) costs more than running it.
            let removed = try String.fetchAll(db.cachedStatement(sql: "SELECT name FROM removed_objects WHERE kind = ? AND id > ? ORDER BY id"),
                                              arguments: [kind.rawValue, cursor.removalID])
            let rows = try Row.fetchAll(db.cachedStatement(sql: select + " WHERE o.kind = ? AND o.resource_version > ?"),
                                        arguments: [kind.rawValue, cursor.resourceVersion])
            return (false, try rows.map(decode), removed, next)
        }
    }

    /// The objects of `kind` written or removed since `cursor` (all of them when `cursor` is `nil`),
    /// with the cursor to read on from: a list-and-watch in the manner of a Kubernetes informer, so a
    /// cache of a kind costs what changed, not what exists.
    ///
    /// Every write to an object or its status takes a new store-wide resource version, and every
    /// removal leaves a record (a trigger keeps the last ``removalsKept``), so nothing between two
    /// reads is missed; a reader more removals behind than that gets a full listing.
    public func changes(of kind: Kind, since cursor: ChangeCursor?) throws -> ObjectChanges {
        let (full, changed, removed, next) = try self.changedRows(of: kind, since: cursor, select: Self.selectObjectsSQL,
                                                                  decode: Self.decodeObject)
        return ObjectChanges(isFullListing: full, changed: changed, removed: removed, cursor: next)
    }

    /// Every stored key (of `kind`, when given), sorted, without reading specs or statuses.
    public func keys(of kind: Kind? = nil) throws -> [ResourceKey] {
        try self.read { db in
            let rows: [Row]
            if let kind {
                rows = try Row.fetchAll(db, sql: "SELECT kind, name FROM objects WHERE kind = ?", arguments: [kind.rawValue])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT kind, name FROM objects")
            }
            return try rows.map { row in
                guard let kind = Kind(rawValue: row[0]) else { throw HyperMeshError.corruptData("unknown kind \(row[0] as String) in state") }
                return ResourceKey(kind: kind, name: row[1])
            }.sorted()
        }
    }
}

/// How many objects of one kind have each Ready status, and how many are Degraded.
public struct ReadinessCount: Sendable, Hashable {
    public var kind: Kind
    /// `True`, `False` or `Unknown` (no status or no Ready condition yet).
    public var ready: String
    public var degraded: Int
    public var count: Int
}

extension StateStore {
    /// Objects counted by kind and Ready status, in SQLite, without decoding any object: what the agent's
    /// gauges and STATUS= line need after every pass.
    public func readinessCounts() throws -> [ReadinessCount] {
        try self.read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT o.kind,
                       coalesce((SELECT json_extract(c.value, '$.status') FROM json_each(s.status, '$.conditions') c
                                 WHERE json_extract(c.value, '$.type') = 'Ready'), 'Unknown') AS ready,
                       sum(coalesce((SELECT 1 FROM json_each(s.status, '$.conditions') c
                                     WHERE json_extract(c.value, '$.type') = 'Degraded'
                                       AND json_extract(c.value, '$.status') = 'True'), 0)) AS degraded,
                       count(*) AS n
                FROM objects o LEFT JOIN statuses s ON s.kind = o.kind AND s.name = o.name
                GROUP BY o.kind, ready
                """))
            return try rows.map { row in
                guard let kind = Kind(rawValue: row[0]) else { throw HyperMeshError.corruptData("unknown kind \(row[0] as String) in state") }
                return ReadinessCount(kind: kind, ready: row[1], degraded: row[2], count: row[3])
            }
        }
    }
}

extension StateStore {
    /// The keys whose status says `Ready=True` for the object's current generation, found in SQLite without
    /// decoding any object: what `apply --wait` polls while ten thousand objects become Ready.
    public func readyKeys() throws -> Set<ResourceKey> {
        try self.read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT o.kind, o.name FROM objects o JOIN statuses s ON s.kind = o.kind AND s.name = o.name
                WHERE s.observed_generation = o.generation
                  AND EXISTS (SELECT 1 FROM json_each(s.status, '$.conditions') c
                              WHERE json_extract(c.value, '$.type') = 'Ready' AND json_extract(c.value, '$.status') = 'True')
                """))
            var keys = Set<ResourceKey>(minimumCapacity: rows.count)
            for row in rows {
                guard let kind = Kind(rawValue: row[0]) else { throw HyperMeshError.corruptData("unknown kind \(row[0] as String) in state") }
                keys.insert(ResourceKey(kind: kind, name: row[1]))
            }
            return keys
        }
    }
}
