import Foundation
import GRDB
import HyperMeshCore

/// The last attempt to apply one GitOps source (a watched directory).
public struct SyncRecord: Sendable, Hashable {
    public enum Result: String, Sendable {
        /// The source's specs are applied (and pruned) as they are now.
        case applied = "Applied"
        /// The source has problems; nothing of this attempt was applied and the previous state stands.
        case failed = "Failed"
    }

    /// The absolute directory path.
    public var source: String
    /// The git commit id of the attempt, when the directory is a git work tree.
    public var revision: String?
    public var attemptedAt: Date
    /// When the source was last applied successfully, and at which revision.
    public var appliedAt: Date?
    public var appliedRevision: String?
    public var result: Result
    /// A one-line summary (`12 objects, 2 created, 1 pruned`, or why it failed).
    public var message: String
    /// Every problem, each `file:line:col: error: …`.
    public var errors: [String]

    public init(source: String, revision: String?, attemptedAt: Date, appliedAt: Date?, appliedRevision: String?,
                result: Result, message: String, errors: [String]) {
        self.source = source
        self.revision = revision
        self.attemptedAt = attemptedAt
        self.appliedAt = appliedAt
        self.appliedRevision = appliedRevision
        self.result = result
        self.message = message
        self.errors = errors
    }

    public var json: JSONValue {
        .object([
            "source": .string(self.source), "revision": self.revision.map(JSONValue.string) ?? .null,
            "attemptedAt": .string(Timestamp.format(self.attemptedAt)),
            "appliedAt": self.appliedAt.map { .string(Timestamp.format($0)) } ?? .null,
            "appliedRevision": self.appliedRevision.map(JSONValue.string) ?? .null,
            "result": .string(self.result.rawValue), "message": .string(self.message),
            "errors": .array(self.errors.map(JSONValue.string)),
        ])
    }
}

extension StateStore {
    /// Stores the outcome of an attempt; a failed attempt keeps the last successful `appliedAt`/`appliedRevision`.
    public func recordSync(_ record: SyncRecord) throws {
        try self.write { db in
            let errors = JSONValue.array(record.errors.map(JSONValue.string)).canonicalJSON
            try db.execute(sql: """
                INSERT INTO sync_sources (source, revision, attempted_at, applied_at, applied_revision, result, message, errors)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (source) DO UPDATE SET revision = excluded.revision, attempted_at = excluded.attempted_at,
                    applied_at = coalesce(excluded.applied_at, applied_at),
                    applied_revision = CASE WHEN excluded.applied_at IS NULL THEN applied_revision ELSE excluded.applied_revision END,
                    result = excluded.result, message = excluded.message, errors = excluded.errors
                """, arguments: [record.source, record.revision, Timestamp.format(record.attemptedAt),
                                 record.appliedAt.map(Timestamp.format), record.appliedRevision, record.result.rawValue,
                                 record.message, errors])
        }
    }

    /// Every GitOps source, by path.
    public func syncRecords() throws -> [SyncRecord] {
        try self.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sync_sources ORDER BY source").map { row in
                let errorsText: String = row["errors"]
                var errors: [String] = []
                if case .array(let items)? = try? JSONValue(parsingJSON: errorsText) {
                    errors = items.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
                }
                return SyncRecord(
                    source: row["source"], revision: row["revision"],
                    attemptedAt: Timestamp.parse(row["attempted_at"]) ?? Date(timeIntervalSince1970: 0),
                    appliedAt: (row["applied_at"] as String?).flatMap(Timestamp.parse), appliedRevision: row["applied_revision"],
                    result: SyncRecord.Result(rawValue: row["result"]) ?? .failed, message: row["message"], errors: errors)
            }
        }
    }
}
