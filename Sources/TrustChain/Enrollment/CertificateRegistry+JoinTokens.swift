import Foundation
import GRDB
import HyperMeshCore

/// A join token as the registry keeps it: never the secret, only its SHA-256.
public struct JoinTokenRecord: Sendable, Equatable {
    public var id: String
    public var createdAt: Date
    public var expiresAt: Date
    /// Whether the machine that joins with it becomes a validator.
    public var validator: Bool
    /// How long the node certificate issued for it lasts (and each renewal of it); `nil`: the CA's default.
    public var certificateLifetime: TimeSpan?
    public var usedAt: Date?
    /// The node id that used it.
    public var usedBy: String?
}

extension CertificateRegistry {
    func insert(_ token: JoinToken, createdAt: Date, expiresAt: Date, validator: Bool, certificateLifetime: TimeSpan?) throws {
        try self.write { db in
            try db.execute(sql: """
                INSERT INTO join_tokens (id, secret_sha256, created_at, expires_at, validator, certificate_lifetime_ms)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [token.id, JoinToken.secretHash(token.secret), Timestamp.format(createdAt),
                                 Timestamp.format(expiresAt), validator, certificateLifetime?.milliseconds])
        }
    }

    /// Every join token, newest first.
    public func joinTokens() throws -> [JoinTokenRecord] {
        try self.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM join_tokens ORDER BY created_at DESC, id").map(Self.decodeToken)
        }
    }

    /// Checks `token` and marks it used by `nodeID`, in one transaction, so two joiners racing with one
    /// token never both get through.
    ///
    /// - Throws: ``JoinRefusal`` saying why the token cannot be used.
    func consume(_ token: JoinToken, by nodeID: String, at time: Date) throws -> JoinTokenRecord {
        // A refusal is an answer, not a failed transaction: it leaves the registry as it was.
        let outcome: Result<JoinTokenRecord, JoinRefusal> = try self.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM join_tokens WHERE id = ?", arguments: [token.id]),
                  let stored: Data = row["secret_sha256"], Self.constantTimeEqual(stored, JoinToken.secretHash(token.secret))
            else {
                return .failure(.unknownToken)
            }
            var record = try Self.decodeToken(row)
            if let usedAt = record.usedAt { return .failure(.tokenUsed(at: usedAt)) }
            if record.expiresAt <= time { return .failure(.tokenExpired(at: record.expiresAt)) }
            try db.execute(sql: "UPDATE join_tokens SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL",
                           arguments: [Timestamp.format(time), nodeID, token.id])
            guard db.changesCount == 1 else { return .failure(.tokenUsed(at: time)) }
            record.usedAt = time
            record.usedBy = nodeID
            return .success(record)
        }
        return try outcome.get()
    }

    /// Gives a consumed token back when what it was consumed for could not be finished (the certificate
    /// could not be signed), so the joiner may try again.
    func restore(tokenID: String) throws {
        try self.write { db in
            try db.execute(sql: "UPDATE join_tokens SET used_at = NULL, used_by = NULL WHERE id = ?", arguments: [tokenID])
        }
    }

    static func decodeToken(_ row: Row) throws -> JoinTokenRecord {
        func date(_ column: String) throws -> Date {
            guard let text: String = row[column], let date = Timestamp.parse(text) else {
                throw HyperMeshError.corruptData("CA registry: bad \(column) for join token \(row["id"] as String? ?? "?")")
            }
            return date
        }
        let used: String? = row["used_at"]
        let lifetime: Int64? = row["certificate_lifetime_ms"]
        return JoinTokenRecord(id: row["id"], createdAt: try date("created_at"), expiresAt: try date("expires_at"),
                               validator: row["validator"], certificateLifetime: lifetime.map { TimeSpan(milliseconds: $0) },
                               usedAt: used.flatMap(Timestamp.parse), usedBy: row["used_by"])
    }

    private static func constantTimeEqual(_ lhs: Data, _ rhs: Data) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
