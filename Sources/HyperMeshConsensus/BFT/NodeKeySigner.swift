import Crypto
import Foundation
import HyperMeshCore

/// Signatures by node keys (ECDSA P-256, the key `hypermesh` keeps in `STATE/node/node-key.pem`), for
/// validator processes: participant `i` is the node whose id is `nodeIDs[i]`, and the node id is the hex
/// SHA-256 of its public key's DER form.
///
/// A signature carries the signer's raw public key (64 bytes) and the raw signature (64 bytes), so a
/// verifier needs only the node ids the `Mesh` spec lists: the key must hash to the signer's node id, and
/// the signature must verify with it. The certificate that binds the node id to the mesh root (and is not
/// revoked) is checked by TrustChain's verifier when the peer's STOQ connection is accepted.
public struct NodeKeySigner: ConsensusSigner {
    public let nodeIDs: [String]
    private let ownIndex: Int?
    private let privateKey: P256.Signing.PrivateKey?
    private let ownPublicKey: [UInt8]

    /// A signer for the validator holding `privateKey`, one of `nodeIDs`; or, without a key, a verifier only.
    public init(nodeIDs: [String], privateKey: P256.Signing.PrivateKey?) {
        self.nodeIDs = nodeIDs
        self.privateKey = privateKey
        self.ownPublicKey = privateKey.map { Array($0.publicKey.rawRepresentation) } ?? []
        self.ownIndex = privateKey.flatMap { key in nodeIDs.firstIndex(of: Self.nodeID(of: key.publicKey)) }
    }

    /// The node id of `key`: hex SHA-256 of its SubjectPublicKeyInfo DER.
    public static func nodeID(of key: P256.Signing.PublicKey) -> String {
        Array(SHA256.hash(data: key.derRepresentation)).hexString
    }

    public func nodeID(of index: Int) -> String? { self.nodeIDs.indices.contains(index) ? self.nodeIDs[index] : nil }

    public func forMembers(_ members: [String]) -> any ConsensusSigner {
        NodeKeySigner(nodeIDs: members, privateKey: self.privateKey)
    }

    /// This signer's participant index, when its key is one of the node ids.
    public var index: Int? { self.ownIndex }

    public func sign(_ message: [UInt8], as signer: Int) -> [UInt8] {
        precondition(signer == self.ownIndex, "a node signs only as itself")
        guard let key = self.privateKey, let signature = try? key.signature(for: message) else { return [] }
        return self.ownPublicKey + Array(signature.rawRepresentation)
    }

    public func verify(_ signature: [UInt8], of message: [UInt8], by signer: Int) -> Bool {
        guard self.nodeIDs.indices.contains(signer) else { return false }
        return Self.verify(signature, of: message, byNode: self.nodeIDs[signer])
    }

    /// Whether `signature` (raw public key, then raw signature) is by the key whose node id is `nodeID`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], byNode nodeID: String) -> Bool {
        guard signature.count == 128, let key = try? P256.Signing.PublicKey(rawRepresentation: signature[0..<64]),
              Self.nodeID(of: key) == nodeID,
              let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature[64..<128]) else { return false }
        return key.isValidSignature(parsed, for: message)
    }

    /// Signs `message` with `privateKey` in the form ``verify(_:of:byNode:)`` checks: what member nodes put on
    /// their mesh operations.
    public static func sign(_ message: [UInt8], with privateKey: P256.Signing.PrivateKey) -> [UInt8] {
        guard let signature = try? privateKey.signature(for: message) else { return [] }
        return Array(privateKey.publicKey.rawRepresentation) + Array(signature.rawRepresentation)
    }
}
