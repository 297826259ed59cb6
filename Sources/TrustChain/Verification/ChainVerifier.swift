import Foundation
import HyperMeshCore
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// The verdict on a presented certificate chain.
public enum ChainVerdict: Sendable, Equatable {
    /// Trusted; the validated chain from leaf to root.
    case trusted([Certificate])
    /// Refused, with one line per reason.
    case refused([String])

    public var isTrusted: Bool {
        if case .trusted = self { return true }
        return false
    }
}

/// Checks a peer's chain against the mesh roots, at a given time, with a CRL: what STOQ and
/// consensus call before they trust a peer.
public enum ChainVerifier {
    /// Verifies `chain` (leaf first, then intermediates) against `roots` at `time`.
    ///
    /// RFC 5280 path validation (signatures, validity periods, basic constraints, key usage,
    /// name constraints) by swift-certificates' `Verifier`, plus: no certificate in the chain
    /// may be on `revocationList`, and the list itself must be current at `time`.
    public static func verify(chain: [Certificate], at time: Date, roots: [Certificate],
                              revocationList: RevocationList? = nil) async -> ChainVerdict
    {
        guard let leaf = chain.first else { return .refused(["no certificate presented"]) }
        if let revocationList, let nextUpdate = revocationList.nextUpdate, nextUpdate < time {
            return .refused(["the revocation list expired at \(nextUpdate)"])
        }
        let revoked = revocationList?.revokedSerials ?? []
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            RevocationPolicy(revokedSerials: revoked)
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst())))
        switch result {
        case .validCertificate(let validated):
            return .trusted(Array(validated))
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }
            return .refused(reasons.isEmpty ? ["no chain to a trusted root"] : Array(Set(reasons)).sorted())
        }
    }
}

/// Refuses chains that hold a revoked certificate.
struct RevocationPolicy: VerifierPolicy {
    let revokedSerials: Set<String>
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        for certificate in chain {
            let serial = certificate.serialNumber.bytes.drop { $0 == 0 }.hexString
            if self.revokedSerials.contains(serial) {
                return .failsToMeetPolicy(reason: "certificate \(serial) (\(certificate.subject)) is revoked")
            }
        }
        return .meetsPolicy
    }
}
