import Foundation
import GRDB
import HyperMeshCore

/// Committed blocks in SQLite (GRDB, WAL), in height order: what a validator reads back after a restart.
/// Appending checks the chain — each block's parent is the previous block — so a bug that would commit a
/// conflicting block fails loudly instead of rewriting history.
public final class LedgerStore: Sendable {
    private let database: DatabaseQueue

    public init(path: String) throws {
        do {
            self.database = try DatabaseQueue(path: path)
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
                    """)
            }
            try migrator.migrate(self.database)
        } catch {
            throw HyperMeshError.storage("cannot open the ledger at \(path)", cause: error)
        }
    }

    /// Appends committed blocks (oldest first) in one transaction; all or none.
    public func append(_ blocks: [Block]) throws {
        try self.database.write { db in
            var last = try Row.fetchOne(db, sql: "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1")
                .map { (height: UInt64($0[0] as Int64), hash: ConsensusHash(bytes: [UInt8]($0[1] as Data))) }
                ?? (height: 0, hash: Block.genesis.hash)
            for block in blocks {
                guard block.height == last.height + 1, block.parent == last.hash else {
                    throw HyperMeshError.conflict(
                        "block \(block.hash) at height \(block.height) does not extend the committed block \(last.hash) at \(last.height)")
                }
                let body = try JSONEncoder().encode(StoredBlock(block))
                try db.execute(sql: "INSERT INTO blocks (height, hash, parent, view, body) VALUES (?, ?, ?, ?, ?)",
                               arguments: [Int64(block.height), Data(block.hash.bytes), Data(block.parent.bytes),
                                           Int64(block.view), body])
                last = (block.height, block.hash)
            }
        }
    }

    /// Every committed block, oldest first.
    public func blocks() throws -> [Block] {
        try self.database.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM blocks ORDER BY height").map { data in
                try JSONDecoder().decode(StoredBlock.self, from: data).block
            }
        }
    }

    public func committedHeight() throws -> UInt64 {
        try self.database.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT max(height) FROM blocks") ?? 0) }
    }
}

/// A block as stored: plain values, decoded back into a ``Block`` whose hash is recomputed (and checked).
private struct StoredBlock: Codable {
    struct StoredOperation: Codable {
        var kind: String
        var proposer: Int
        var sequence: UInt64
        var subject: String
        var amount: Int64
        var timestamp: Int64
        var nonce: UInt64
        var signature: [UInt8]
    }

    var parent: [UInt8]
    var height: UInt64
    var view: UInt64
    var proposer: Int
    var justifyBlock: [UInt8]
    var justifyHeight: UInt64
    var justifyView: UInt64
    var signatures: [[UInt8]]
    var signers: [Int]
    var operations: [StoredOperation]
    var workBits: Int
    var hash: [UInt8]

    init(_ block: Block) {
        self.parent = block.parent.bytes
        self.height = block.height
        self.view = block.view
        self.proposer = block.proposer
        self.justifyBlock = block.justify.block.bytes
        self.justifyHeight = block.justify.height
        self.justifyView = block.justify.view
        self.signatures = block.justify.signatures.map(\.signature)
        self.signers = block.justify.signatures.map(\.validator)
        self.operations = block.operations.map {
            StoredOperation(kind: $0.kind.rawValue, proposer: $0.proposer, sequence: $0.sequence, subject: $0.subject,
                            amount: $0.amount, timestamp: $0.timestampMilliseconds, nonce: $0.work.nonce, signature: $0.signature)
        }
        self.workBits = block.workBits
        self.hash = block.hash.bytes
    }

    var block: Block {
        get throws {
            let operations = try self.operations.map { stored -> Operation in
                guard let kind = Operation.Kind(rawValue: stored.kind) else {
                    throw HyperMeshError.corruptData("unknown operation kind \(stored.kind) in the ledger")
                }
                return Operation(kind: kind, proposer: stored.proposer, sequence: stored.sequence, subject: stored.subject,
                                 amount: stored.amount, timestampMilliseconds: stored.timestamp,
                                 work: WorkProof(nonce: stored.nonce), signature: stored.signature)
            }
            let justify = QuorumCertificate(block: ConsensusHash(bytes: self.justifyBlock), height: self.justifyHeight,
                                            view: self.justifyView,
                                            signatures: zip(self.signers, self.signatures).map { .init(validator: $0, signature: $1) })
            let block = Block(parent: ConsensusHash(bytes: self.parent), height: self.height, view: self.view, proposer: self.proposer,
                              justify: justify, operations: operations, workBits: self.workBits)
            guard block.hash.bytes == self.hash else {
                throw HyperMeshError.corruptData("stored block at height \(self.height) does not hash to its id")
            }
            return block
        }
    }
}
