import Crypto
import Foundation
import HyperMeshCore

/// A SHA-256 value: block ids, operation digests, history ticks.
public struct ConsensusHash: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 hash has 32 bytes")
        self.bytes = bytes
    }

    /// SHA-256 of `data`.
    public static func of<D: DataProtocol>(_ data: D) -> ConsensusHash {
        ConsensusHash(bytes: Array(SHA256.hash(data: data)))
    }

    public static let zero = ConsensusHash(bytes: [UInt8](repeating: 0, count: 32))

    public static func < (lhs: ConsensusHash, rhs: ConsensusHash) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    /// The first 8 bytes in hex, as logs and reports print it.
    public var description: String { self.bytes.prefix(8).hexString }
}

/// Builds the bytes that get hashed or signed, field by field, unambiguously (lengths before variable parts).
struct CanonicalEncoder {
    private(set) var bytes: [UInt8] = []

    mutating func append(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { self.bytes.append(UInt8(value >> UInt64(shift) & 0xFF)) }
    }

    mutating func append(_ value: Int) { self.append(UInt64(bitPattern: Int64(value))) }

    mutating func append(_ data: [UInt8]) {
        self.append(UInt64(data.count))
        self.bytes.append(contentsOf: data)
    }

    mutating func append(_ text: String) { self.append(Array(text.utf8)) }
    mutating func append(_ hash: ConsensusHash) { self.bytes.append(contentsOf: hash.bytes) }
    mutating func appendByte(_ byte: UInt8) { self.bytes.append(byte) }
}
