import Crypto
import Foundation

/// Blobs stored by SHA-256 under a directory: `DIR/ab/abcdef…`, written through a temporary file and renamed
/// into place only once the bytes hash to the name.
public struct BlobDirectory: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// Where the blob with `id` lives.
    public func path(for id: [UInt8]) -> String {
        let hex = id.map { String(format: "%02x", $0) }.joined()
        return self.root.appendingPathComponent(String(hex.prefix(2))).appendingPathComponent(hex).path
    }

    /// Starts receiving a blob of `size` bytes that must hash to `id`.
    func beginWrite(id: [UInt8], size: UInt64) throws -> BlobWriter {
        try BlobWriter(directory: self, id: id, size: size)
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

    init(directory: BlobDirectory, id: [UInt8], size: UInt64) throws {
        self.directory = directory
        self.id = id
        self.size = size
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
