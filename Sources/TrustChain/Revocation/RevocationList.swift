import Foundation
import SwiftASN1
import X509

/// An X.509 v2 CRL (RFC 5280 §5) signed by the intermediate: every revoked serial with its
/// date and reason, `nextUpdate`, and the CRL number and authority key identifier extensions.
public struct RevocationList: Sendable {
    public var der: [UInt8]
    public var pem: String { DERWriter.pem(self.der, label: "X509 CRL") }

    /// An entry of the list.
    public struct Entry: Sendable {
        public var serialHex: String
        public var revokedAt: Date
        public var reason: RevocationReason

        public init(serialHex: String, revokedAt: Date, reason: RevocationReason) {
            self.serialHex = serialHex
            self.revokedAt = revokedAt
            self.reason = reason
        }
    }

    /// Builds and signs a CRL of `entries`.
    public static func build(issuer: Certificate, key: SigningKey, entries: [Entry], thisUpdate: Date, nextUpdate: Date,
                             number: UInt64) throws -> RevocationList
    {
        let algorithm: [UInt8]
        switch key {
        case .p256: algorithm = DERWriter.sequence([DERWriter.objectIdentifier([1, 2, 840, 10045, 4, 3, 2])])
        case .p384: algorithm = DERWriter.sequence([DERWriter.objectIdentifier([1, 2, 840, 10045, 4, 3, 3])])
        }
        var serializer = DER.Serializer()
        try serializer.serialize(issuer.subject)
        let issuerName = serializer.serializedBytes

        let revoked = entries.map { entry -> [UInt8] in
            var parts = [DERWriter.integer(unsigned: Self.bytes(hex: entry.serialHex)), DERWriter.time(entry.revokedAt)]
            if entry.reason != .unspecified {
                let reasonCode = DERWriter.sequence([DERWriter.objectIdentifier([2, 5, 29, 21]), DERWriter.octetString(DERWriter.enumerated(UInt8(entry.reason.rawValue)))])
                parts.append(DERWriter.sequence([reasonCode]))
            }
            return DERWriter.sequence(parts)
        }
        var extensions: [[UInt8]] = [
            DERWriter.sequence([DERWriter.objectIdentifier([2, 5, 29, 20]), DERWriter.octetString(DERWriter.integer(number))]),
        ]
        if let keyIdentifier = try issuer.extensions.subjectKeyIdentifier?.keyIdentifier {
            let aki = DERWriter.sequence([DERWriter.contextPrimitive(0, Array(keyIdentifier))])
            extensions.append(DERWriter.sequence([DERWriter.objectIdentifier([2, 5, 29, 35]), DERWriter.octetString(aki)]))
        }
        var tbsParts = [DERWriter.integer(1), algorithm, issuerName, DERWriter.time(thisUpdate), DERWriter.time(nextUpdate)]
        if !revoked.isEmpty { tbsParts.append(DERWriter.sequence(revoked)) }
        tbsParts.append(DERWriter.contextExplicit(0, DERWriter.sequence(extensions)))
        let tbs = DERWriter.sequence(tbsParts)
        let signature = try key.signatureDER(for: tbs)
        return RevocationList(der: DERWriter.sequence([tbs, algorithm, DERWriter.bitString(signature)]))
    }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }
}
