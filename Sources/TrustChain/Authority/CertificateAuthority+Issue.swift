import Foundation
import HyperMeshCore
import SwiftASN1
import X509

extension CertificateAuthority {
    /// Issues a leaf certificate, writes its files when `directory` is given, then records it
    /// and appends it to the transparency log.
    ///
    /// Writing comes before recording, so a directory that cannot be written leaves no trace:
    /// no files, no registry row, no log leaf.
    ///
    /// - Throws: ``HyperMeshError`` `invalidArgument` listing every problem with the request,
    ///   including a lifetime beyond the intermediate's remaining life; `io` when the files
    ///   cannot be written.
    public func issue(_ request: IssuanceRequest, now: Date = Date(), writingTo directory: URL? = nil,
                      keyMode: Int = 0o600, subjectKey: GeneratedKey? = nil) throws -> IssuedCertificate
    {
        let (issued, der) = try self.makeCertificate(request, now: now, subjectKey: subjectKey)
        if let directory { try issued.write(to: directory, keyMode: keyMode) }
        try self.registry.record(issued, commonName: request.commonName, policy: request.policy, entry: der, now: now)
        return issued
    }

    /// Generates the key (or uses `subjectKey`, e.g. a node's own key) and signs the certificate
    /// without recording it; returns it with its DER encoding.
    public func makeCertificate(_ request: IssuanceRequest, now: Date = Date(),
                                subjectKey: GeneratedKey? = nil) throws -> (IssuedCertificate, [UInt8])
    {
        try self.checkLifetime(of: request, now: now)
        let key = try subjectKey ?? request.keyAlgorithm.generate()
        return try self.sign(request, publicKey: key.certificateKey.publicKey, privateKeyPEM: key.pem, now: now)
    }

    /// Signs a certificate for a key whose private half stays with its holder (a CSR's key); the result's
    /// ``IssuedCertificate/privateKeyPEM`` is empty.
    func makeCertificate(_ request: IssuanceRequest, now: Date, publicKey: Certificate.PublicKey) throws
        -> (IssuedCertificate, [UInt8])
    {
        try self.checkLifetime(of: request, now: now)
        return try self.sign(request, publicKey: publicKey, privateKeyPEM: "", now: now)
    }

    private func checkLifetime(of request: IssuanceRequest, now: Date) throws {
        var problems = request.problems()
        let start = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let end = start.addingTimeInterval(request.duration.timeInterval)
        if end > self.intermediate.notValidAfter {
            let remaining = TimeSpan(milliseconds: Int64(max(0, self.intermediate.notValidAfter.timeIntervalSince(start)) * 1000))
            problems.append("duration \(request.duration) is longer than the intermediate's remaining life (\(remaining))")
        }
        guard problems.isEmpty else { throw HyperMeshError.invalidArgument(problems.joined(separator: "; ")) }
    }

    private func sign(_ request: IssuanceRequest, publicKey: Certificate.PublicKey, privateKeyPEM: String, now: Date) throws
        -> (IssuedCertificate, [UInt8])
    {
        let start = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let end = start.addingTimeInterval(request.duration.timeInterval)
        var names: [GeneralName] = request.dnsNames.map { .dnsName($0) }
        names += request.ipAddresses.compactMap { IPAddress.bytes($0) }.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        names += request.uris.map { .uniformResourceIdentifier($0) }
        let usages: [ExtendedKeyUsage.Usage]
        switch request.usage {
        case .server: usages = [.serverAuth]
        case .client: usages = [.clientAuth]
        case .both: usages = [.serverAuth, .clientAuth]
        }
        let authorityKeyIdentifier = self.intermediateKeyIdentifier
        let serial = Certificate.SerialNumber.random128()
        let subject = try DistinguishedName { CommonName(request.commonName) }
        let certificate = try Certificate(
            version: .v3, serialNumber: serial, publicKey: publicKey, notValidBefore: start, notValidAfter: end,
            issuer: self.intermediate.subject, subject: subject, signatureAlgorithm: self.intermediateKey.signatureAlgorithm,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usages)
                if !names.isEmpty { SubjectAlternativeNames(names) }
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier)
            },
            issuerPrivateKey: self.intermediateKey.certificateKey)
        // One serialization serves the PEM files and the log entry.
        let document = try certificate.serializeAsPEM()
        let certificatePEM = document.pemString + "\n"
        let issued = IssuedCertificate(certificate: certificate, serial: serial.hexString, certificatePEM: certificatePEM,
                                       privateKeyPEM: privateKeyPEM, chainPEM: certificatePEM + self.intermediatePEM + "\n")
        return (issued, document.derBytes)
    }

    /// Marks every other live certificate of `policy` superseded, after `current` replaced it.
    public func supersede(policy: String, except current: String, now: Date = Date()) throws {
        try self.registry.supersede(policy: policy, except: current, at: now)
    }

    /// Revokes a certificate this CA issued.
    public func revoke(serial: String, reason: RevocationReason = .unspecified, now: Date = Date()) throws {
        try self.registry.revoke(serial: serial, reason: reason, at: now)
    }

    /// A CRL of every revoked certificate that has not yet expired, valid for ``revocationListLifetime``.
    public func revocationList(now: Date = Date()) throws -> RevocationList {
        let entries = try self.registry.records().filter { $0.revokedAt != nil && $0.notAfter > now }.map {
            RevocationList.Entry(serialHex: $0.serial, revokedAt: $0.revokedAt!, reason: $0.revocationReason ?? .unspecified)
        }
        let start = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        return try RevocationList.build(issuer: self.intermediate, key: self.intermediateKey, entries: entries, thisUpdate: start,
                                        nextUpdate: start.addingTimeInterval(Self.revocationListLifetime.timeInterval),
                                        number: UInt64(start.timeIntervalSince1970))
    }
}
