import Foundation
import GRDB
import HyperMeshCore

/// The CA's append-only log of issued certificates (RFC 9162 style), stored in the registry:
/// leaf hashes and every completed perfect subtree, so roots and proofs cost O(log n) reads.
public struct TransparencyLog: Sendable {
    let registry: CertificateRegistry

    /// Appends a leaf and stores the perfect subtrees it completes. Runs inside the caller's transaction.
    static func append(entry: [UInt8], serial: String, time: Date, db: Database) throws {
        let size = try Int.fetchOne(db, sql: "SELECT coalesce(max(leaf_index) + 1, 0) FROM log_leaves") ?? 0
        var hash = MerkleTree.leafHash(entry)
        try db.execute(sql: "INSERT INTO log_leaves (leaf_index, serial, leaf_hash, appended_at) VALUES (?, ?, ?, ?)",
                       arguments: [size, serial, Data(hash), Timestamp.format(time)])
        let insert = try db.cachedStatement(sql: "INSERT INTO log_subtrees (level, subtree_index, hash) VALUES (?, ?, ?)")
        let select = try db.cachedStatement(sql: "SELECT hash FROM log_subtrees WHERE level = ? AND subtree_index = ?")
        try insert.execute(arguments: [0, size, Data(hash)])
        var level = 0
        var index = size
        while index & 1 == 1 {
            guard let left = try Data.fetchOne(select, arguments: [level, index - 1]) else {
                throw HyperMeshError.corruptData("transparency log: subtree (\(level), \(index - 1)) is missing")
            }
            hash = MerkleTree.nodeHash(Array(left), hash)
            level += 1
            index >>= 1
            try insert.execute(arguments: [level, index, Data(hash)])
        }
    }

    /// Appends entries (DER certificates, by serial) in one transaction.
    public func append(_ entries: [(serial: String, entry: [UInt8])], at time: Date = Date()) throws {
        try self.registry.write { db in
            for item in entries { try Self.append(entry: item.entry, serial: item.serial, time: time, db: db) }
        }
    }

    /// The number of leaves.
    public func size() throws -> Int {
        try self.registry.read { db in try Int.fetchOne(db, sql: "SELECT coalesce(max(leaf_index) + 1, 0) FROM log_leaves") ?? 0 }
    }

    /// The root hash of the first `size` leaves (the current tree when `nil`).
    public func rootHash(size: Int? = nil) throws -> (size: Int, root: MerkleTree.Hash) {
        try self.registry.read { db in
            let current = try Int.fetchOne(db, sql: "SELECT coalesce(max(leaf_index) + 1, 0) FROM log_leaves") ?? 0
            let size = size ?? current
            guard size <= current else { throw HyperMeshError.invalidArgument("the log has \(current) leaves, not \(size)") }
            return (size, try MerkleTree.rootHash(count: size, source: Self.source(db)))
        }
    }

    /// The leaf index, leaf hash and audit path of the certificate `serial` in the current tree.
    public func inclusionProof(serial: String) throws -> InclusionProof {
        try self.registry.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT leaf_index, leaf_hash FROM log_leaves WHERE serial = ?",
                                             arguments: [serial.lowercased()]) else {
                throw HyperMeshError.notFound("serial \(serial) is not in the transparency log")
            }
            let size = try Int.fetchOne(db, sql: "SELECT coalesce(max(leaf_index) + 1, 0) FROM log_leaves") ?? 0
            let index: Int = row[0]
            let source = Self.source(db)
            return InclusionProof(leafIndex: index, treeSize: size, leafHash: Array(row[1] as Data),
                                  path: try MerkleTree.inclusionProof(index: index, size: size, source: source),
                                  rootHash: try MerkleTree.rootHash(count: size, source: source))
        }
    }

    /// The consistency proof between two sizes of the tree.
    public func consistencyProof(oldSize: Int, newSize: Int) throws -> [MerkleTree.Hash] {
        try self.registry.read { db in
            let current = try Int.fetchOne(db, sql: "SELECT coalesce(max(leaf_index) + 1, 0) FROM log_leaves") ?? 0
            guard oldSize > 0, oldSize <= newSize, newSize <= current else {
                throw HyperMeshError.invalidArgument("need 0 < OLD <= NEW <= \(current) (the log's size), got \(oldSize) and \(newSize)")
            }
            return try MerkleTree.consistencyProof(oldSize: oldSize, newSize: newSize, source: Self.source(db))
        }
    }

    static func source(_ db: Database) -> MerkleTree.SubtreeSource {
        { level, index in
            guard let data = try Data.fetchOne(db.cachedStatement(sql: "SELECT hash FROM log_subtrees WHERE level = ? AND subtree_index = ?"),
                                               arguments: [level, index]) else {
                throw HyperMeshError.corruptData("transparency log: subtree (\(level), \(index)) is missing")
            }
            return Array(data)
        }
    }
}

/// An audit path with what it proves.
public struct InclusionProof: Sendable, Hashable {
    public var leafIndex: Int
    public var treeSize: Int
    public var leafHash: MerkleTree.Hash
    public var path: [MerkleTree.Hash]
    public var rootHash: MerkleTree.Hash
}
