import Crypto
import Foundation
import HyperMeshCore

/// Blobs stored by SHA-256 under a directory: `DIR/ab/abcdef…`, written through a temporary file and renamed
/// into place only once the bytes hash to the name.
public struct BlobDirectory: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// Where the blob with `id` lives.
    public func path(for id: [UInt8]) -> String {
        let hex = id.hexString
        return self.root.appendingPathComponent(String(hex.prefix(2))).appendingPathComponent(hex).path
    }

    /// Starts receiving a blob of `size` bytes that must hash to `id`; once stored, `owner` holds it.
    func beginWrite(id: [UInt8], size: UInt64, owner: String? = nil) throws -> BlobWriter {
        try BlobWriter(directory: self, id: id, size: size, owner: owner)
    }
}

/// Who holds a blob: each node that stored it has a hard link to it at `DIR/owners/NODE/ab/abcdef…` (a name,
/// no copy). A node releasing the blob removes its link; the blob goes when no node holds it. Blobs stored
/// by clients without a node name have no holder and are never released.
extension BlobDirectory {
    /// Whether `owner` can name a directory: 1 to 128 letters, digits, `-` and `_` (node ids are hex).
    static func isValidOwner(_ owner: String) -> Bool {
        (1...128).contains(owner.utf8.count) && owner.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F
        }
    }

    private var ownersRoot: URL { self.root.appendingPathComponent("owners") }

    func holdingPath(for id: [UInt8], owner: String) -> String {
        let hex = id.hexString
        return self.ownersRoot.appendingPathComponent(owner).appendingPathComponent(String(hex.prefix(2)))
            .appendingPathComponent(hex).path
    }

    /// The nodes with a holding directory.
    private func owners() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: self.ownersRoot.path)) ?? []).filter(Self.isValidOwner)
    }

    /// Records that `owner` holds the stored blob `id` (again: a link to an older copy is renewed).
    func hold(_ id: [UInt8], owner: String) throws {
        let blob = self.path(for: id)
        let holding = self.holdingPath(for: id, owner: owner)
        unlink(holding)
        if link(blob, holding) != 0 {
            let failure = errno
            guard failure == ENOENT else { throw STOQError.io("\(holding): \(String(cString: strerror(failure)))") }
            try FileManager.default.createDirectory(atPath: (holding as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard link(blob, holding) == 0 else { throw STOQError.io("\(holding): \(String(cString: strerror(errno)))") }
        }
    }

    /// Points every holder's link at the blob's current copy (after a new copy replaced an older one).
    func renewHoldings(of id: [UInt8]) throws {
        for owner in self.owners() where access(self.holdingPath(for: id, owner: owner), F_OK) == 0 {
            try self.hold(id, owner: owner)
        }
    }

    /// `owner` gives up the blob `id`; the blob is deleted when no node holds it any more. Returns whether
    /// `owner` held it.
    func release(_ id: [UInt8], owner: String) throws -> Bool {
        let holding = self.holdingPath(for: id, owner: owner)
        guard unlink(holding) == 0 else {
            let failure = errno
            guard failure == ENOENT else { throw STOQError.io("\(holding): \(String(cString: strerror(failure)))") }
            return false
        }
        if !self.owners().contains(where: { access(self.holdingPath(for: id, owner: $0), F_OK) == 0 }) {
            unlink(self.path(for: id))
        }
        return true
    }

    /// The ids of the blobs `owner` holds.
    func held(by owner: String) -> [[UInt8]] {
        let directory = self.ownersRoot.appendingPathComponent(owner).path
        var ids: [[UInt8]] = []
        for fanOut in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where fanOut.utf8.count == 2 {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + fanOut)) ?? [] {
                if let id = Self.id(hex: name), name.hasPrefix(fanOut) { ids.append(id) }
            }
        }
        return ids.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The 32 bytes of a 64-digit lowercase hex name (as ``path(for:)`` writes them).
    static func id(hex: String) -> [UInt8]? {
        guard hex.utf8.count == 64, let bytes = [UInt8](hexString: hex), bytes.hexString == hex else { return nil }
        return bytes
    }
}

/// A blob being received: bytes go to a temporary file and into SHA-256 as they arrive.
final class BlobWriter {
    private let directory: BlobDirectory
    private let id: [UInt8]
    let size: UInt64
    private(set) var received: UInt64 = 0
    private let temporaryPath: String
    private var descriptor: Int32
    private var hasher = SHA256()
    private var buffer: [UInt8] = []
    private static let bufferBytes = 1 << 20

    private let owner: String?

    init(directory: BlobDirectory, id: [UInt8], size: UInt64, owner: String?) throws {
        self.directory = directory
        self.id = id
        self.size = size
        self.owner = owner
        let temporaryDirectory = directory.root.appendingPathComponent("tmp").path
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        self.temporaryPath = temporaryDirectory + "/" + UUID().uuidString
        self.descriptor = open(self.temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard self.descriptor >= 0 else {
            throw STOQError.io("\(self.temporaryPath): \(String(cString: strerror(errno)))")
        }
        self.buffer.reserveCapacity(Self.bufferBytes)
    }

    deinit { self.abandon() }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard self.received + UInt64(bytes.count) <= self.size else {
            throw STOQError.protocolViolation("more than the announced \(self.size) bytes")
        }
        self.received += UInt64(bytes.count)
        self.hasher.update(bufferPointer: bytes)
        self.buffer.append(contentsOf: bytes)
        if self.buffer.count >= Self.bufferBytes { try self.flush() }
    }

    /// Checks size and hash, then renames the blob into place.
    func commit() throws {
        guard self.received == self.size else {
            throw STOQError.protocolViolation("blob ended after \(self.received) of \(self.size) bytes")
        }
        guard Array(self.hasher.finalize()) == self.id else {
            throw STOQError.protocolViolation("the bytes do not hash to the blob's id")
        }
        try self.flush()
        fsync(self.descriptor)
        close(self.descriptor)
        self.descriptor = -1
        let path = self.directory.path(for: self.id)
        let replacing = access(path, F_OK) == 0
        // The fan-out directory exists for all but the first blob in it: rename first, make it only if missing.
        if rename(self.temporaryPath, path) != 0 {
            let failure = errno
            guard failure == ENOENT else { throw STOQError.io("\(path): \(String(cString: strerror(failure)))") }
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            guard rename(self.temporaryPath, path) == 0 else {
                throw STOQError.io("\(path): \(String(cString: strerror(errno)))")
            }
        }
        if replacing { try self.directory.renewHoldings(of: self.id) }
        if let owner = self.owner { try self.directory.hold(self.id, owner: owner) }
    }

    /// Deletes the temporary file of a blob that will not be committed.
    func abandon() {
        if self.descriptor >= 0 {
            close(self.descriptor)
            self.descriptor = -1
            unlink(self.temporaryPath)
        }
    }

    private func flush() throws {
        try self.buffer.drain(to: self.descriptor, path: self.temporaryPath)
    }
}

extension BlobDirectory {
    /// The SHA-256 of a file's bytes: its blob id.
    public static func contentID(ofFile path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw STOQError.io("\(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw STOQError.io("\(path): \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
        }
        return Array(hasher.finalize())
    }
}
