import Foundation
import GRDB
import HyperMeshCore

/// A validator's durable state in SQLite (GRDB, WAL): the committed blocks in height order, the blocks
/// received but not yet committed, and HotStuff's safety state — what a restarted validator reads back.
/// Appending checks the chain — each block's parent is the previous block — so a bug that would commit a
/// conflicting block fails loudly instead of rewriting history. Blocks are stored in ``ConsensusWire`` form
/// and re-hashed on read.
public final class LedgerStore: ReplicaStorage, Sendable {
    private let database: any DatabaseWriter

    /// Opens (creating) the ledger at `path`, in WAL mode: `hypermesh consensus ledger` reads it while the
    /// validator writes.
    public convenience init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "hypermesh.ledger"
        do {
            try self.init(database: try DatabasePool(path: path, configuration: configuration), name: path)
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.storage("cannot open the ledger at \(path)", cause: error)
        }
    }

    /// A ledger in an in-memory SQLite database: the simulator's validators, which crash and restart
    /// within one process.
    public convenience init() throws {
        try self.init(database: try DatabaseQueue(), name: "memory")
    }

    private init(database: any DatabaseWriter, name: String) throws {
        self.database = database
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE blocks (
                    height INTEGER PRIMARY KEY,
                    hash BLOB NOT NULL UNIQUE,
                    parent BLOB NOT NULL,
                    view INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE TABLE pending_blocks (
                    hash BLOB PRIMARY KEY,
                    height INTEGER NOT NULL,
                    body BLOB NOT NULL
                );
                CREATE INDEX pending_blocks_height ON pending_blocks (height);
                CREATE TABLE safety (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    voted_view INTEGER NOT NULL,
                    locked BLOB NOT NULL,
                    high_qc BLOB NOT NULL,
                    commit_qc BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-epochs") { db in
            try db.execute(sql: """
                ALTER TABLE safety ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE epoch_proofs (
                    epoch INTEGER PRIMARY KEY,
                    body BLOB NOT NULL
                );
                """)
        }
        do {
            try migrator.migrate(self.database)
        } catch {
            throw HyperMeshError.storage("cannot open the ledger at \(name)", cause: error)
        }
    }

    // MARK: - Committed blocks

    /// Appends committed blocks (oldest first) in one transaction; all or none.
    public func append(_ blocks: [Block]) throws {
        try self.database.write { db in try Self.append(blocks, in: db) }
    }

    private static func append(_ blocks: [Block], in db: Database) throws {
        var last = try Row.fetchOne(db, sql: "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1")
            .map { (height: UInt64($0[0] as Int64), hash: ConsensusHash(bytes: [UInt8]($0[1] as Data))) }
            ?? (height: 0, hash: Block.genesis.hash)
        for block in blocks {
            guard block.height == last.height + 1, block.parent == last.hash else {
                throw HyperMeshError.conflict(
                    "block \(block.hash) at height \(block.height) does not extend the committed block \(last.hash) at \(last.height)")
            }
            try db.execute(sql: "INSERT INTO blocks (height, hash, parent, view, body) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Int64(block.height), Data(block.hash.bytes), Data(block.parent.bytes),
                                       Int64(block.view), Data(ConsensusWire.encode(block))])
            last = (block.height, block.hash)
        }
    }

    /// Every committed block, oldest first.
    public func blocks() throws -> [Block] {
        try self.database.read { db in try Self.committedBlocks(in: db) }
    }

    /// Committed blocks above `height`, oldest first, at most `limit`.
    public func blocks(above height: UInt64, limit: Int) throws -> [Block] {
        try self.database.read { db in
            try Row.fetchAll(db, sql: "SELECT height, hash, body FROM blocks WHERE height > ? ORDER BY height LIMIT ?",
                             arguments: [Int64(height), limit]).map(Self.committedBlock)
        }
    }

    private static func committedBlocks(in db: Database) throws -> [Block] {
        try Row.fetchAll(db, sql: "SELECT height, hash, body FROM blocks ORDER BY height").map(Self.committedBlock)
    }

    /// A row of `blocks` (height, hash, body), its body re-hashed and checked against the stored id.
    private static func committedBlock(_ row: Row) throws -> Block {
        let height = row[0] as Int64
        let block = try Self.decode(row[2] as Data, what: "committed block at height \(height)")
        guard block.hash.bytes == [UInt8](row[1] as Data), block.height == UInt64(height) else {
            throw HyperMeshError.corruptData("the ledger's block at height \(height) does not hash to its stored id")
        }
        return block
    }

    public func committedHeight() throws -> UInt64 {
        try self.database.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT max(height) FROM blocks") ?? 0) }
    }

    // MARK: - Replica state

    public func loadSnapshot() throws -> ReplicaSnapshot {
        try self.database.read { db in
            var snapshot = ReplicaSnapshot()
            snapshot.committed = try Self.committedBlocks(in: db)
            snapshot.pending = try Row.fetchAll(db, sql: "SELECT body FROM pending_blocks ORDER BY height").map { row in
                try Self.decode(row[0] as Data, what: "pending block")
            }
            snapshot.epochProofs = try Self.epochProofs(in: db)
            if let row = try Row.fetchOne(db, sql: "SELECT voted_view, locked, high_qc, commit_qc, epoch FROM safety WHERE id = 1") {
                let locked = [UInt8](row[1] as Data)
                guard locked.count == 32 else { throw HyperMeshError.corruptData("the ledger's locked block id is not 32 bytes") }
                snapshot.safety = SafetyState(
                    votedView: UInt64(row[0] as Int64), locked: ConsensusHash(bytes: locked),
                    highQC: try Self.decodeCertificate(row[2] as Data, what: "highest QC"),
                    commitQC: try Self.decodeCertificate(row[3] as Data, what: "commit QC"), epoch: UInt64(row[4] as Int64))
            }
            return snapshot
        }
    }

    public func save(_ changes: ReplicaChanges) throws {
        guard !changes.isEmpty else { return }
        try self.database.write { db in
            for block in changes.blocks {
                try db.execute(sql: "INSERT OR IGNORE INTO pending_blocks (hash, height, body) VALUES (?, ?, ?)",
                               arguments: [Data(block.hash.bytes), Int64(block.height), Data(ConsensusWire.encode(block))])
            }
            if changes.epochStarted { try db.execute(sql: "DELETE FROM pending_blocks") }
            for proof in changes.epochProofs {
                try db.execute(sql: "INSERT OR REPLACE INTO epoch_proofs (epoch, body) VALUES (?, ?)",
                               arguments: [Int64(proof.epoch), Data(ConsensusWire.encode(proof))])
            }
            if let top = changes.committed.last {
                try Self.append(changes.committed, in: db)
                try db.execute(sql: "DELETE FROM pending_blocks WHERE height <= ?", arguments: [Int64(top.height)])
            }
            if let safety = changes.safety {
                try db.execute(sql: """
                    INSERT INTO safety (id, voted_view, locked, high_qc, commit_qc, epoch) VALUES (1, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET voted_view = excluded.voted_view, locked = excluded.locked,
                        high_qc = excluded.high_qc, commit_qc = excluded.commit_qc, epoch = excluded.epoch
                    """, arguments: [Int64(safety.votedView), Data(safety.locked.bytes),
                                     Data(ConsensusWire.encode(safety.highQC)), Data(ConsensusWire.encode(safety.commitQC)),
                                     Int64(safety.epoch)])
            }
        }
    }

    // MARK: - Epoch proofs

    /// Adds proofs of ended epochs (a follower's, checked before): what it serves to nodes crossing those epochs.
    public func append(epochProofs proofs: [EpochProof]) throws {
        guard !proofs.isEmpty else { return }
        try self.database.write { db in
            for proof in proofs {
                try db.execute(sql: "INSERT OR REPLACE INTO epoch_proofs (epoch, body) VALUES (?, ?)",
                               arguments: [Int64(proof.epoch), Data(ConsensusWire.encode(proof))])
            }
        }
    }

    /// Every stored proof of an ended epoch, oldest first.
    public func epochProofs() throws -> [EpochProof] {
        try self.database.read { db in try Self.epochProofs(in: db) }
    }

    private static func epochProofs(in db: Database) throws -> [EpochProof] {
        try Row.fetchAll(db, sql: "SELECT epoch, body FROM epoch_proofs ORDER BY epoch").map { row in
            do {
                return try ConsensusWire.decodeEpochProof([UInt8](row[1] as Data))
            } catch {
                throw HyperMeshError.corruptData("the ledger's proof of epoch \(row[0] as Int64) does not decode: \(error)")
            }
        }
    }

    // MARK: - Decoding

    private static func decode(_ data: Data, what: String) throws -> Block {
        do {
            return try ConsensusWire.decodeBlock([UInt8](data))
        } catch {
            throw HyperMeshError.corruptData("the ledger's \(what) does not decode: \(error)")
        }
    }

    private static func decodeCertificate(_ data: Data, what: String) throws -> QuorumCertificate {
        do {
            return try ConsensusWire.decodeCertificate([UInt8](data))
        } catch {
            throw HyperMeshError.corruptData("the ledger's \(what) does not decode: \(error)")
        }
    }
}
