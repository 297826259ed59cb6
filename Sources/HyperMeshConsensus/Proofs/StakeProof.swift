import Crypto
import Foundation
import TrustChain
import X509

/// PoStake (who): the operation is signed by the proposer's node key (ECDSA P-256 over its digest); the
/// key's certificate chains to the mesh root and is not revoked (TrustChain's ``ChainVerifier``); and the
/// ledger's stake balance of that identity covers the mesh's minimum and the operation's own requirement.
public struct StakeProof: Sendable {
    /// The proposer's certificate first, then its intermediates.
    public var chain: [Certificate]
    /// DER-encoded ECDSA signature over the operation digest.
    public var signature: [UInt8]

    public init(chain: [Certificate], signature: [UInt8]) {
        self.chain = chain
        self.signature = signature
    }

    /// Signs `digest` with the proposer's node key.
    public static func sign(_ digest: ConsensusHash, with key: P256.Signing.PrivateKey, chain: [Certificate]) throws -> StakeProof {
        StakeProof(chain: chain, signature: Array(try key.signature(for: digest.bytes).derRepresentation))
    }

    /// Checks chain, signature and balance, in that order; the first failure is the reason.
    public func verify(digest: ConsensusHash, roots: [Certificate], revocationList: RevocationList?, at time: Date,
                       balance: Int64, minimumStake: Int64, required: Int64 = 0) async -> ProofVerdict {
        if case .refused(let reasons) = await ChainVerifier.verify(chain: self.chain, at: time, roots: roots,
                                                                   revocationList: revocationList) {
            return .refused("stake: the proposer's certificate is not trusted: " + reasons.joined(separator: "; "))
        }
        guard let leaf = self.chain.first, let key = P256.Signing.PublicKey(leaf.publicKey) else {
            return .refused("stake: the proposer's certificate does not hold a P-256 key")
        }
        guard let signature = try? P256.Signing.ECDSASignature(derRepresentation: self.signature),
              key.isValidSignature(signature, for: digest.bytes) else {
            return .refused("stake: the signature does not verify with the proposer's certificate")
        }
        let needed = max(minimumStake, required)
        guard balance >= needed else { return .refused("stake: balance \(balance) is below the \(needed) required") }
        return .accepted
    }
}
