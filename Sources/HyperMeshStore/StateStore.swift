import Foundation
import GRDB
import HyperMeshCore

/// The state database: desired objects, status, apply-set inventory and events, in SQLite
/// (WAL) under the state directory.
///
/// Every write runs in one `BEGIN IMMEDIATE` transaction, so an apply lands whole or not at
/// all, and another process holding the database (an agent, a second apply) makes this one
/// wait up to ``busyTimeout`` instead of failing or corrupting anything.
public final class StateStore: Sendable {
    /// How long a write waits for another process's transaction.
    public static let busyTimeout: TimeInterval = 30
    /// The file name of the database inside the state directory.
    public static let databaseFileName = "state.db"
    /// Events kept in all; older ones are dropped.
    public static let maximumEventCount: Int64 = 100_000

    /// Removed objects remembered for ``changes(of:since:)``; a reader further behind lists the kind anew.
    public static let removalsKept = 10_000

    /// The state directory.
    public let directory: URL
    let pool: DatabasePool

    /// Opens (creating and migrating as needed) the database in `directory`.
    ///
    /// - Throws: ``HyperMeshError`` `storage` when the directory cannot be made or the file is
    ///   not a HyperMesh database.
    public init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HyperMeshError.storage("cannot create state directory \(directory.path)", cause: error)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.label = "hypermesh.state"
        do {
            self.pool = try DatabasePool(path: directory.appendingPathComponent(Self.databaseFileName).path,
                                         configuration: configuration)
            try StoreMigrations.migrator.migrate(self.pool)
        } catch {
            throw HyperMeshError.storage("cannot open \(directory.path)/\(Self.databaseFileName)", cause: error)
        }
    }

    /// Where state lives: `--state-dir`, else `$HYPERMESH_STATE_DIR`, else `/var/lib/hypermesh`
    /// for root, else `$XDG_STATE_HOME/hypermesh` (`~/.local/state/hypermesh`).
    public static func resolveDirectory(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                                        isRoot: Bool = geteuid() == 0) -> URL
    {
        if let flag, !flag.isEmpty { return URL(fileURLWithPath: flag) }
        if let fromEnvironment = environment["HYPERMESH_STATE_DIR"], !fromEnvironment.isEmpty {
            return URL(fileURLWithPath: fromEnvironment)
        }
        if isRoot { return URL(fileURLWithPath: "/var/lib/hypermesh") }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("hypermesh")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".local/state/hypermesh")
    }

    // MARK: - Transactions

    /// Runs `body` in one IMMEDIATE transaction; it commits when `body` returns, rolls back when it throws.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try self.pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.storage("state database write failed", cause: error)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try self.pool.read(body)
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.storage("state database read failed", cause: error)
        }
    }

    /// Runs SQLite's own consistency check; returns its findings (`["ok"]` when sound).
    public func integrityCheck() throws -> [String] {
        try self.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    /// A number that changes whenever any process commits a write; the agent polls it.
    public func dataVersion() throws -> Int64 {
        try self.read { db in try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }
}

enum StoreMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE objects (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    uid TEXT NOT NULL UNIQUE,
                    labels TEXT NOT NULL,
                    spec TEXT NOT NULL,
                    generation INTEGER NOT NULL CHECK (generation >= 1),
                    resource_version INTEGER NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    deletion_requested_at TEXT,
                    PRIMARY KEY (kind, name)
                ) WITHOUT ROWID;
                CREATE TABLE statuses (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    status TEXT NOT NULL,
                    observed_generation INTEGER NOT NULL,
                    next_reconcile_at TEXT,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (kind, name),
                    FOREIGN KEY (kind, name) REFERENCES objects (kind, name) ON DELETE CASCADE
                ) WITHOUT ROWID;
                CREATE TABLE inventory (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    applyset TEXT NOT NULL,
                    PRIMARY KEY (kind, name),
                    FOREIGN KEY (kind, name) REFERENCES objects (kind, name) ON DELETE CASCADE
                ) WITHOUT ROWID;
                CREATE INDEX inventory_by_applyset ON inventory (applyset);
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    type TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    message TEXT NOT NULL
                );
                CREATE INDEX events_by_object ON events (kind, name, id);
                CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO counters (name, value) VALUES ('resource_version', 0);
                """)
        }
        migrator.registerMigration("v2-sync") { db in
            // GitOps sources the agent applies (`hypermesh agent --watch DIR`), one row per directory.
            try db.execute(sql: """
                CREATE TABLE sync_sources (
                    source TEXT PRIMARY KEY,
                    revision TEXT,
                    attempted_at TEXT NOT NULL,
                    applied_at TEXT,
                    applied_revision TEXT,
                    result TEXT NOT NULL,
                    message TEXT NOT NULL,
                    errors TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-changes") { db in
            // Reading what changed since a resource version (ObjectCache) instead of every object of a kind:
            // an index by version, and a record of removed objects that a trigger keeps, the last
            // `removalsKept` of them (a reader further behind lists the kind again).
            try db.execute(sql: """
                CREATE INDEX objects_by_kind_version ON objects (kind, resource_version);
                CREATE TABLE removed_objects (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL
                );
                CREATE INDEX removed_objects_by_kind ON removed_objects (kind, id);
                CREATE TRIGGER objects_removed AFTER DELETE ON objects BEGIN
                    INSERT INTO removed_objects (kind, name) VALUES (old.kind, old.name);
                    DELETE FROM removed_objects WHERE id <= (SELECT max(id) FROM removed_objects) - \(StateStore.removalsKept);
                END;
                """)
        }
        return migrator
    }
}
