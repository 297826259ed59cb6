import Crypto
import Foundation

/// Signs and verifies on behalf of validators (votes, proposals) and proposers (operations).
public protocol ConsensusSigner: Sendable {
    func sign(_ message: [UInt8], as signer: Int) -> [UInt8]
    func verify(_ signature: [UInt8], of message: [UInt8], by signer: Int) -> Bool
    /// The node id of participant `index`, when participants are nodes (their proofs of space must be
    /// their own).
    func nodeID(of index: Int) -> String?
    /// The same keys for another epoch's participants: participant `i` becomes the holder of identity
    /// `members[i]` (a node id for node keys; for signers with a fixed set of keys, the decimal index of the key).
    func forMembers(_ members: [String]) -> any ConsensusSigner
}

extension ConsensusSigner {
    public func nodeID(of index: Int) -> String? { nil }

    /// Keys by index: identity `"k"` is key `k`.
    public func forMembers(_ members: [String]) -> any ConsensusSigner {
        ReindexedSigner(base: self, keys: members.map { Int($0) ?? -1 })
    }
}

/// A signer with a fixed set of keys, seen through another epoch's numbering: participant `i` signs with key
/// `keys[i]`.
struct ReindexedSigner: ConsensusSigner {
    let base: any ConsensusSigner
    let keys: [Int]

    func sign(_ message: [UInt8], as signer: Int) -> [UInt8] { self.base.sign(message, as: self.keys[signer]) }

    func verify(_ signature: [UInt8], of message: [UInt8], by signer: Int) -> Bool {
        guard self.keys.indices.contains(signer), self.keys[signer] >= 0 else { return false }
        return self.base.verify(signature, of: message, by: self.keys[signer])
    }

    func forMembers(_ members: [String]) -> any ConsensusSigner { self.base.forMembers(members) }
}

/// Ed25519 keys, one per participant (swift-crypto): the real thing, for validator processes.
public struct Ed25519Signer: ConsensusSigner {
    private let keys: [Curve25519.Signing.PrivateKey]

    public init(participants: Int) {
        self.keys = (0..<participants).map { _ in Curve25519.Signing.PrivateKey() }
    }

    public func sign(_ message: [UInt8], as signer: Int) -> [UInt8] {
        Array((try? self.keys[signer].signature(for: message)) ?? Data())
    }

    public func verify(_ signature: [UInt8], of message: [UInt8], by signer: Int) -> Bool {
        guard self.keys.indices.contains(signer) else { return false }
        return self.keys[signer].publicKey.isValidSignature(signature, for: message)
    }
}

/// HMAC-SHA256 with a secret per participant, derived from the simulation's seed: unforgeable by other
/// participants (byzantine ones included — they only hold their own key), deterministic, and ~50× cheaper
/// than Ed25519, so thousands of simulated runs fit in a test. Not for real networks.
public struct SimulatedSigner: ConsensusSigner {
    private let keys: [SymmetricKey]

    public init(participants: Int, seed: UInt64) {
        self.keys = (0..<participants).map { index in
            var encoder = CanonicalEncoder()
            encoder.append("simulated-key")
            encoder.append(seed)
            encoder.append(index)
            return SymmetricKey(data: ConsensusHash.of(encoder.bytes).bytes)
        }
    }

    public func sign(_ message: [UInt8], as signer: Int) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: self.keys[signer]))
    }

    public func verify(_ signature: [UInt8], of message: [UInt8], by signer: Int) -> Bool {
        guard self.keys.indices.contains(signer) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: message, using: self.keys[signer])
    }
}
