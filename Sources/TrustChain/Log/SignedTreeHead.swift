import Foundation
import HyperMeshCore

/// A signed statement of the log's size and root at a time, by the intermediate key.
///
/// The signed bytes are `0x00 || timestamp (uint64 ms, big-endian) || tree size (uint64,
/// big-endian) || root hash (32 bytes)`, as RFC 6962's TreeHeadSignature lays them out;
/// the signature is a DER ECDSA signature (SHA-256 for P-256, SHA-384 for P-384).
public struct SignedTreeHead: Sendable, Hashable {
    public var treeSize: Int
    public var timestampMilliseconds: UInt64
    public var rootHash: MerkleTree.Hash
    public var signature: [UInt8]

    public var signedBytes: [UInt8] { Self.signedBytes(size: self.treeSize, timestamp: self.timestampMilliseconds, root: self.rootHash) }

    static func signedBytes(size: Int, timestamp: UInt64, root: MerkleTree.Hash) -> [UInt8] {
        func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8((value >> (8 * UInt64($0))) & 0xFF) } }
        return [0] + bigEndian(timestamp) + bigEndian(UInt64(size)) + root
    }

    public var json: JSONValue {
        [
            "treeSize": .integer(Int64(self.treeSize)), "timestamp": .integer(Int64(self.timestampMilliseconds)),
            "rootHash": .string(Data(self.rootHash).base64EncodedString()),
            "signature": .string(Data(self.signature).base64EncodedString()),
        ]
    }
}

extension CertificateAuthority {
    /// The current tree head, signed by the intermediate.
    public func signedTreeHead(now: Date = Date()) throws -> SignedTreeHead {
        let (size, root) = try self.log.rootHash()
        let timestamp = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let signature = try self.intermediateKey.signatureDER(for: SignedTreeHead.signedBytes(size: size, timestamp: timestamp, root: root))
        return SignedTreeHead(treeSize: size, timestampMilliseconds: timestamp, rootHash: root, signature: signature)
    }
}
