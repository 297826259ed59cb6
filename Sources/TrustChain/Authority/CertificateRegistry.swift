import Foundation
import GRDB
import HyperMeshCore

/// The CA's own database (`ca/registry.db`): every issued certificate, revocations, and the
/// transparency log's leaves and perfect subtrees.
public final class CertificateRegistry: Sendable {
    let queue: DatabaseQueue

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.journalMode = .wal
        do {
            self.queue = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(self.queue)
        } catch {
            throw HyperMeshError.storage("cannot open CA registry \(path)", cause: error)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE certificates (
                    serial TEXT PRIMARY KEY,
                    common_name TEXT NOT NULL,
                    policy TEXT,
                    not_before TEXT NOT NULL,
                    not_after TEXT NOT NULL,
                    issued_at TEXT NOT NULL,
                    revoked_at TEXT,
                    revocation_reason INTEGER,
                    pem TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX certificates_by_policy ON certificates (policy);
                CREATE TABLE log_leaves (
                    leaf_index INTEGER PRIMARY KEY,
                    serial TEXT NOT NULL,
                    leaf_hash BLOB NOT NULL,
                    appended_at TEXT NOT NULL
                );
                CREATE INDEX log_leaves_by_serial ON log_leaves (serial);
                CREATE TABLE log_subtrees (
                    level INTEGER NOT NULL,
                    subtree_index INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (level, subtree_index)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-join-tokens") { db in
            try db.execute(sql: """
                CREATE TABLE join_tokens (
                    id TEXT PRIMARY KEY,
                    secret_sha256 BLOB NOT NULL,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL,
                    validator INTEGER NOT NULL,
                    used_at TEXT,
                    used_by TEXT
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-join-token-lifetime") { db in
            try db.execute(sql: "ALTER TABLE join_tokens ADD COLUMN certificate_lifetime_ms INTEGER")
        }
        return migrator
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try self.queue.write(body) } catch let error as HyperMeshError { throw error } catch {
            throw HyperMeshError.storage("CA registry write failed", cause: error)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try self.queue.read(body) } catch let error as HyperMeshError { throw error } catch {
            throw HyperMeshError.storage("CA registry read failed", cause: error)
        }
    }

    /// Records an issued certificate and appends it to the transparency log, in one transaction.
    func record(_ issued: IssuedCertificate, commonName: String, policy: String?, entry: [UInt8], now: Date) throws {
        try self.write { db in
            try db.execute(sql: """
                INSERT INTO certificates (serial, common_name, policy, not_before, not_after, issued_at, pem)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [issued.serial, commonName, policy, Timestamp.format(issued.certificate.notValidBefore),
                                 Timestamp.format(issued.certificate.notValidAfter), Timestamp.format(now), issued.certificatePEM])
            try TransparencyLog.append(entry: entry, serial: issued.serial, time: now, db: db)
        }
    }

    /// Every issued certificate, oldest first.
    public func records() throws -> [IssuedRecord] {
        try self.read { db in try Row.fetchAll(db, sql: "SELECT * FROM certificates ORDER BY issued_at, serial").map(Self.decode) }
    }

    /// The certificate with `serial` (lowercase hex), or `nil`.
    public func record(serial: String) throws -> IssuedRecord? {
        try self.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM certificates WHERE serial = ?", arguments: [serial.lowercased()]).map(Self.decode)
        }
    }

    /// Revokes `serial`. Revoking a revoked certificate again keeps the first time and reason.
    ///
    /// - Throws: ``HyperMeshError`` `notFound` for an unknown serial.
    public func revoke(serial: String, reason: RevocationReason, at time: Date) throws {
        try self.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM certificates WHERE serial = ?", arguments: [serial.lowercased()]) != nil else {
                throw HyperMeshError.notFound("no certificate with serial \(serial) was issued by this CA")
            }
            try db.execute(sql: """
                UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL
                """, arguments: [Timestamp.format(time), reason.rawValue, serial.lowercased()])
        }
    }

    /// Marks the unexpired, unrevoked certificates of `policy` other than `current` superseded.
    func supersede(policy: String, except current: String, at time: Date) throws {
        try self.write { db in
            try db.execute(sql: """
                UPDATE certificates SET revoked_at = ?, revocation_reason = ?
                WHERE policy = ? AND serial != ? AND revoked_at IS NULL AND not_after > ?
                """, arguments: [Timestamp.format(time), RevocationReason.superseded.rawValue, policy, current, Timestamp.format(time)])
        }
    }

    static func decode(_ row: Row) throws -> IssuedRecord {
        func date(_ column: String) throws -> Date {
            guard let text: String = row[column], let date = Timestamp.parse(text) else {
                throw HyperMeshError.corruptData("CA registry: bad \(column) for \(row["serial"] as String? ?? "?")")
            }
            return date
        }
        let revoked: String? = row["revoked_at"]
        let reason: Int? = row["revocation_reason"]
        return IssuedRecord(serial: row["serial"], commonName: row["common_name"], policy: row["policy"],
                            notBefore: try date("not_before"), notAfter: try date("not_after"),
                            revokedAt: revoked.flatMap(Timestamp.parse), revocationReason: reason.flatMap(RevocationReason.init(rawValue:)),
                            certificatePEM: row["pem"])
    }
}
