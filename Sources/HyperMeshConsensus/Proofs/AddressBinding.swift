import Crypto
import Foundation
import HyperMeshCore

/// PoSpace's "where": a node's signed statement that it is reachable at a network address, so the storage
/// it proves can be found (and challenged) there. Signed with the node key; the key must hash to the node
/// id, the signature must cover exactly this id, address and time, and the statement must be recent.
public struct AddressBinding: Sendable, Hashable {
    public var nodeID: String
    /// `HOST:PORT` where the node's STOQ endpoint listens.
    public var address: String
    /// Milliseconds since the Unix epoch when it was signed.
    public var signedAtMilliseconds: Int64
    /// The node's raw P-256 public key (64 bytes).
    public var publicKey: [UInt8]
    /// Raw ECDSA signature (64 bytes) over ``signedBytes``.
    public var signature: [UInt8]

    var signedBytes: [UInt8] {
        var encoder = CanonicalEncoder()
        encoder.append("hypermesh-address-binding-v1")
        encoder.append(self.nodeID)
        encoder.append(self.address)
        encoder.append(UInt64(bitPattern: self.signedAtMilliseconds))
        return encoder.bytes
    }

    /// Binds the node of `key` to `address`, now.
    public static func sign(address: String, with key: P256.Signing.PrivateKey, at time: Date = Date()) throws -> AddressBinding {
        var binding = AddressBinding(nodeID: NodeKeySigner.nodeID(of: key.publicKey), address: address,
                                     signedAtMilliseconds: Int64(time.timeIntervalSince1970 * 1000),
                                     publicKey: Array(key.publicKey.rawRepresentation), signature: [])
        binding.signature = Array(try key.signature(for: binding.signedBytes).rawRepresentation)
        return binding
    }

    /// Accepted when the key is `nodeID`'s, the signature verifies, and it was signed within `maximumAge`
    /// before `now` (and not after it, beyond the mesh's clock drift).
    public func verify(now: Date = Date(), maximumAgeMilliseconds: Int64, maximumDriftMilliseconds: Int64) -> ProofVerdict {
        guard let key = try? P256.Signing.PublicKey(rawRepresentation: self.publicKey) else {
            return .refused("space: the address binding carries no P-256 key")
        }
        guard NodeKeySigner.nodeID(of: key) == self.nodeID else {
            return .refused("space: the address binding's key is not node \(self.nodeID.prefix(12))…'s")
        }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: self.signature),
              key.isValidSignature(signature, for: self.signedBytes) else {
            return .refused("space: the address binding's signature does not verify")
        }
        let age = Int64(now.timeIntervalSince1970 * 1000) - self.signedAtMilliseconds
        if age < -maximumDriftMilliseconds { return .refused("space: the address binding is signed \(-age) ms in the future") }
        if age > maximumAgeMilliseconds { return .refused("space: the address binding is \(age) ms old, at most \(maximumAgeMilliseconds) accepted") }
        return .accepted
    }
}
