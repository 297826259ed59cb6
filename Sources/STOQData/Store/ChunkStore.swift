import Foundation
import GRDB
import HyperMeshCore

/// Content-addressed chunks on disk: `chunks/ab/cd/<id>` (two-level fan-out), written
/// atomically, verified on every read. A chunk whose bytes no longer hash to its id is moved to
/// `quarantine/` and recorded, so the repair path can fetch a good copy. Reference counts say
/// which chunks are in use; unreferenced ones are collected after a grace period.
public final class ChunkStore: Sendable {
    public let directory: URL
    let database: DatabaseQueue

    /// A chunk found corrupt.
    public struct Quarantined: Sendable, Hashable {
        public var id: ContentID
        public var time: Date
        public var reason: String
    }

    public init(directory: URL) throws {
        self.directory = directory
        do {
            for folder in ["chunks", "quarantine", "tmp"] {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            configuration.journalMode = .wal
            // The chunk files themselves are not fsynced, so a synced commit would buy nothing: WAL with
            // synchronous=NORMAL survives a process crash, and a chunk lost in a power cut is rebuilt by repair.
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            self.database = try DatabaseQueue(path: directory.appendingPathComponent("chunks.db").path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE chunks (id TEXT PRIMARY KEY, size INTEGER NOT NULL, references_count INTEGER NOT NULL DEFAULT 0,
                                         unreferenced_since REAL) WITHOUT ROWID;
                    CREATE TABLE quarantine (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, time REAL NOT NULL, reason TEXT NOT NULL);
                    """)
            }
            migrator.registerMigration("v2") { db in
                // When each chunk was stored, for sweeps that keep what is newer than their grace period.
                try db.execute(sql: "ALTER TABLE chunks ADD COLUMN stored_at REAL")
            }
            try migrator.migrate(self.database)
        } catch {
            throw HyperMeshError.storage("cannot open chunk store \(directory.path)", cause: error)
        }
    }

    /// Where chunk `id` lives.
    public func path(of id: ContentID) -> URL {
        let hex = id.description
        return self.directory.appendingPathComponent("chunks/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)")
    }

    /// Stores `bytes` under their id (once: a chunk already present is not written again).
    @discardableResult
    public func put(_ bytes: [UInt8], now: Date = Date()) throws -> ContentID {
        try self.put(many: [bytes], now: now)[0]
    }

    /// Stores several chunks, recording them in one transaction; returns their ids in order.
    @discardableResult
    public func put(many chunks: [[UInt8]], now: Date = Date()) throws -> [ContentID] {
        var ids: [ContentID] = []
        ids.reserveCapacity(chunks.count)
        for bytes in chunks {
            let id = ContentID(of: bytes)
            ids.append(id)
            let file = self.path(of: id)
            guard !FileManager.default.fileExists(atPath: file.path) else { continue }
            try self.writeFile(bytes, to: file, id: id)
        }
        try self.write { db in
            for (id, bytes) in zip(ids, chunks) {
                try db.execute(sql: """
                    INSERT INTO chunks (id, size, unreferenced_since, stored_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                    """, arguments: [id.description, bytes.count, now.timeIntervalSince1970, now.timeIntervalSince1970])
            }
        }
        return ids
    }

    /// Writes a chunk file through a temporary name and renames it into place, making its fan-out directory
    /// when missing. Plain system calls: Foundation's `Data.write` syncs every file, which made storing a
    /// GiB of shards take tens of seconds; the files are not synced (a torn one fails its hash on read and is
    /// repaired).
    private func writeFile(_ bytes: [UInt8], to file: URL, id: ContentID) throws {
        let temporary = self.directory.appendingPathComponent("tmp/\(id).\(UUID().uuidString)").path
        func failure(_ what: String) -> HyperMeshError {
            HyperMeshError.io("cannot store chunk \(id): \(what): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure("open") }
        var written = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let count = Foundation.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                written += count
            }
            return true
        }
        let closed = close(descriptor) == 0
        guard ok, closed else {
            let error = failure("write")
            unlink(temporary)
            throw error
        }
        if rename(temporary, file.path) != 0 {
            if errno == ENOENT {
                let fanOut = file.deletingLastPathComponent()
                mkdir(fanOut.deletingLastPathComponent().path, 0o700)
                mkdir(fanOut.path, 0o700)
            }
            guard rename(temporary, file.path) == 0 else {
                let error = failure("rename")
                unlink(temporary)
                throw error
            }
        }
    }

    /// The bytes of chunk `id`, verified against it.
    ///
    /// - Throws: ``HyperMeshError`` `notFound` when absent; `corruptData` when the bytes do not
    ///   hash to `id` — the file is then moved to `quarantine/` and recorded.
    public func get(_ id: ContentID, now: Date = Date()) throws -> [UInt8] {
        let file = self.path(of: id)
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw HyperMeshError.notFound("chunk \(id) is not in the store")
        }
        let bytes = [UInt8](data)
        guard ContentID(of: bytes) == id else {
            let reason = "bytes hash to \(ContentID(of: bytes)), not to the chunk's id"
            rename(file.path, self.directory.appendingPathComponent("quarantine/\(id).\(Int(now.timeIntervalSince1970))").path)
            try self.write { db in
                try db.execute(sql: "INSERT INTO quarantine (id, time, reason) VALUES (?, ?, ?)",
                               arguments: [id.description, now.timeIntervalSince1970, reason])
            }
            throw HyperMeshError.corruptData("chunk \(id) is corrupt and was quarantined: \(reason)")
        }
        return bytes
    }

    /// Whether chunk `id` is present (not verified).
    public func contains(_ id: ContentID) -> Bool { FileManager.default.fileExists(atPath: self.path(of: id).path) }

    /// Chunks found corrupt, oldest first.
    public func quarantined() throws -> [Quarantined] {
        try self.read { db in
            try Row.fetchAll(db, sql: "SELECT id, time, reason FROM quarantine ORDER BY seq").compactMap { row in
                ContentID(hex: row[0]).map { Quarantined(id: $0, time: Date(timeIntervalSince1970: row[1]), reason: row[2]) }
            }
        }
    }

    // MARK: - References and garbage collection

    /// Counts one more reference to each of `ids` (a manifest that uses them).
    public func retain(_ ids: [ContentID]) throws {
        try self.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE chunks SET references_count = references_count + 1, unreferenced_since = NULL WHERE id = ?",
                               arguments: [id.description])
                guard db.changesCount == 1 else { throw HyperMeshError.notFound("chunk \(id) is not in the store") }
            }
        }
    }

    /// Drops one reference to each of `ids`; a chunk left with none starts its grace period.
    public func release(_ ids: [ContentID], now: Date = Date()) throws {
        try self.write { db in
            for id in ids {
                try db.execute(sql: """
                    UPDATE chunks SET references_count = max(0, references_count - 1),
                    unreferenced_since = CASE WHEN references_count <= 1 THEN ? ELSE NULL END WHERE id = ?
                    """, arguments: [now.timeIntervalSince1970, id.description])
            }
        }
    }

    /// The reference count of `id`, or `nil` when unknown.
    public func references(of id: ContentID) throws -> Int? {
        try self.read { db in try Int.fetchOne(db, sql: "SELECT references_count FROM chunks WHERE id = ?", arguments: [id.description]) }
    }

    /// Deletes chunks unreferenced for at least `grace`; returns their ids.
    @discardableResult
    public func collectGarbage(grace: TimeSpan, now: Date = Date()) throws -> [ContentID] {
        let cutoff = now.timeIntervalSince1970 - grace.timeInterval
        let doomed = try self.write { db -> [ContentID] in
            let ids = try String.fetchAll(db, sql: """
                SELECT id FROM chunks WHERE references_count = 0 AND unreferenced_since IS NOT NULL AND unreferenced_since <= ?
                """, arguments: [cutoff]).compactMap(ContentID.init(hex:))
            for id in ids { try db.execute(sql: "DELETE FROM chunks WHERE id = ?", arguments: [id.description]) }
            return ids
        }
        for id in doomed { try? FileManager.default.removeItem(at: self.path(of: id)) }
        return doomed
    }

    /// Deletes every chunk not in `live` that was stored at least `grace` ago (mark and sweep, for owners that
    /// know their live set instead of counting references); returns their ids.
    @discardableResult
    public func sweep(keeping live: Set<ContentID>, grace: TimeSpan, now: Date = Date()) throws -> [ContentID] {
        let cutoff = now.timeIntervalSince1970 - grace.timeInterval
        let known = try self.read { db in
            try Row.fetchAll(db, sql: "SELECT id, stored_at FROM chunks").compactMap { row -> (ContentID, Double?)? in
                ContentID(hex: row[0]).map { ($0, row[1]) }
            }
        }
        let doomed = known.filter { !live.contains($0.0) && ($0.1 ?? 0) <= cutoff }.map(\.0)
        try self.write { db in
            for id in doomed { try db.execute(sql: "DELETE FROM chunks WHERE id = ?", arguments: [id.description]) }
        }
        for id in doomed { try? FileManager.default.removeItem(at: self.path(of: id)) }
        return doomed
    }

    /// The chunks stored less than `grace` ago.
    public func stored(within grace: TimeSpan, now: Date = Date()) throws -> Set<ContentID> {
        let cutoff = now.timeIntervalSince1970 - grace.timeInterval
        return try self.read { db in
            Set(try String.fetchAll(db, sql: "SELECT id FROM chunks WHERE stored_at > ?", arguments: [cutoff]).compactMap(ContentID.init(hex:)))
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try self.database.write(body) } catch let error as HyperMeshError { throw error } catch {
            throw HyperMeshError.storage("chunk store write failed", cause: error)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try self.database.read(body) } catch let error as HyperMeshError { throw error } catch {
            throw HyperMeshError.storage("chunk store read failed", cause: error)
        }
    }
}
