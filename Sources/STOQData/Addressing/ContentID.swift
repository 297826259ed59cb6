import Crypto
import HyperMeshCore

/// A chunk's identity: the SHA-256 of its bytes, written as 64 lowercase hex digits.
public struct ContentID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let digest: [UInt8]

    public init(of bytes: UnsafeRawBufferPointer) {
        self.digest = Array(SHA256.hash(data: bytes))
    }

    public init(of bytes: [UInt8]) {
        self.digest = bytes.withUnsafeBytes { Array(SHA256.hash(data: $0)) }
    }

    /// An id from its 32 digest bytes.
    init(digest: [UInt8]) {
        precondition(digest.count == 32, "a SHA-256 digest has 32 bytes")
        self.digest = digest
    }

    /// Parses 64 hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.digest = bytes
    }

    public var description: String { self.digest.hexString }

    public static func < (lhs: ContentID, rhs: ContentID) -> Bool { lhs.digest.lexicographicallyPrecedes(rhs.digest) }
}

/// A file as chunks: each chunk's id and size, in order. Its own id addresses the whole file.
public struct FileManifest: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var id: ContentID
        public var size: Int

        public init(id: ContentID, size: Int) {
            self.id = id
            self.size = size
        }
    }

    public var chunks: [Entry]

    public init(chunks: [Entry]) {
        self.chunks = chunks
    }

    public var size: Int { self.chunks.reduce(0) { $0 + $1.size } }

    /// Chunks `bytes` with `chunker` and addresses every chunk.
    public init(bytes: [UInt8], chunker: FastCDC) {
        self.chunks = bytes.withUnsafeBytes { buffer in
            chunker.chunks(of: buffer).map { cut in
                Entry(id: ContentID(of: UnsafeRawBufferPointer(rebasing: buffer[cut.offset..<cut.offset + cut.length])), size: cut.length)
            }
        }
    }

    /// SHA-256 over the chunk list (`id ‖ size as 8 bytes big-endian` for each chunk).
    public var id: ContentID {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.chunks.count * 40)
        for chunk in self.chunks {
            bytes += chunk.id.digest
            bytes += (0..<8).reversed().map { UInt8((UInt64(chunk.size) >> (8 * UInt64($0))) & 0xFF) }
        }
        return ContentID(of: bytes)
    }
}
