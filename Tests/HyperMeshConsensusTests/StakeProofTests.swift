import Crypto
import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing
import TrustChain
import X509
@testable import HyperMeshConsensus

struct StakeProofTests {
    @Test func stakeIsCheckedAgainstTheMeshRootTheCRLTheKeyAndTheBalance() async throws {
        let directory = try TemporaryDirectory(prefix: "stake")
        defer { directory.remove() }
        let ca = try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("ca"), name: "mesh")
        let other = try CertificateAuthority.initialize(in: directory.url.appendingPathComponent("other"), name: "other")
        func node(_ authority: CertificateAuthority, _ name: String) throws -> (P256.Signing.PrivateKey, [Certificate], String) {
            let issued = try authority.issue(IssuanceRequest(commonName: name, usage: .both, duration: .hours(1), keyAlgorithm: .p256))
            return (try P256.Signing.PrivateKey(pemRepresentation: issued.privateKeyPEM), [issued.certificate, authority.intermediate],
                    issued.serial)
        }
        let (key, chain, _) = try node(ca, "validator-1")
        let (revokedKey, revokedChain, revokedSerial) = try node(ca, "validator-2")
        let (foreignKey, foreignChain, _) = try node(other, "stranger")
        try ca.revoke(serial: revokedSerial, reason: .keyCompromise)
        let crl = try ca.revocationList()
        let digest = ConsensusHash.of(Array("offer pool p".utf8))
        func verify(_ proof: StakeProof, balance: Int64 = 100) async -> ProofVerdict {
            await proof.verify(digest: digest, roots: [ca.root], revocationList: crl, at: Date(), balance: balance,
                               minimumStake: 10, required: 20)
        }

        #expect(await verify(try .sign(digest, with: key, chain: chain)) == .accepted)
        let forged = try StakeProof.sign(digest, with: P256.Signing.PrivateKey(), chain: chain)
        #expect(await verify(forged) == .refused("stake: the signature does not verify with the proposer's certificate"))
        let verdict = await verify(try .sign(digest, with: foreignKey, chain: foreignChain))
        #expect(verdict.description.hasPrefix("refused: stake: the proposer's certificate is not trusted"))
        let revoked = await verify(try .sign(digest, with: revokedKey, chain: revokedChain))
        #expect(revoked.description.contains("is revoked"), "\(revoked)")
        #expect(await verify(try .sign(digest, with: key, chain: chain), balance: 15)
            == .refused("stake: balance 15 is below the 20 required"))
        let otherDigest = ConsensusHash.of(Array("claim pool p".utf8))
        let misplaced = try StakeProof.sign(otherDigest, with: key, chain: chain)
        #expect(!(await verify(misplaced)).isAccepted)
    }
}
