import Crypto
import Foundation
import HyperMeshCore
import SwiftASN1
import X509

/// The mesh's certificate authority in a `ca/` folder (mode 0700): a root (10 years, pathLen 1)
/// and an online intermediate (1 year, pathLen 0) that issues every leaf, signs CRLs and signs
/// the transparency log's tree heads.
///
/// Files: `root.pem`, `root-key.pem` (unless kept offline), `intermediate.pem`,
/// `intermediate-key.pem` (keys 0600), `registry.db`.
public struct CertificateAuthority: Sendable {
    public static let rootLifetime = TimeSpan.hours(24 * 3653)
    public static let intermediateLifetime = TimeSpan.hours(24 * 365)
    /// How long a CRL is valid before `nextUpdate`.
    public static let revocationListLifetime = TimeSpan.hours(24 * 7)

    public let directory: URL
    public let root: Certificate
    public let intermediate: Certificate
    public let intermediateKey: SigningKey
    public let registry: CertificateRegistry
    public var log: TransparencyLog { TransparencyLog(registry: self.registry) }
    /// The intermediate as PEM, which every chain file carries after the leaf.
    public let intermediatePEM: String
    public let rootPEM: String
    /// The intermediate's subject key identifier, every leaf's authority key identifier.
    let intermediateKeyIdentifier: ArraySlice<UInt8>?

    /// Whether a CA exists in `directory`.
    public static func exists(in directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("intermediate.pem").path)
    }

    /// Creates the root and intermediate.
    ///
    /// - Parameters:
    ///   - rootKeyDirectory: where to write `root-key.pem` instead of `directory`, to keep it offline.
    ///   - force: replace an existing CA (its certificates stop verifying against the new root).
    /// - Throws: ``HyperMeshError`` `conflict` when a CA exists and `force` is false.
    @discardableResult
    public static func initialize(in directory: URL, name: String, algorithm: KeyAlgorithm = .p256,
                                  rootKeyDirectory: URL? = nil, force: Bool = false, now: Date = Date()) throws -> CertificateAuthority
    {
        if Self.exists(in: directory) && !force {
            throw HyperMeshError.conflict("a CA already exists in \(directory.path); use --force to replace it")
        }
        guard !name.isEmpty, name.unicodeScalars.count <= 48 else {
            throw HyperMeshError.invalidArgument("the CA name must be 1 to 48 characters")
        }
        let start = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let rootKey = try SigningKey(algorithm: algorithm)
        let intermediateKey = try SigningKey(algorithm: algorithm)
        let rootName = try DistinguishedName {
            OrganizationName("HyperMesh")
            CommonName("\(name) Root CA")
        }
        let intermediateName = try DistinguishedName {
            OrganizationName("HyperMesh")
            CommonName("\(name) Intermediate CA")
        }
        let root = try Self.caCertificate(subject: rootName, issuer: rootName, publicKey: rootKey.certificateKey.publicKey,
                                          notBefore: start, lifetime: Self.rootLifetime, pathLength: 1, signer: rootKey,
                                          authorityKeyIdentifier: nil)
        let intermediate = try Self.caCertificate(
            subject: intermediateName, issuer: rootName, publicKey: intermediateKey.certificateKey.publicKey,
            notBefore: start, lifetime: Self.intermediateLifetime, pathLength: 0, signer: rootKey,
            authorityKeyIdentifier: try root.extensions.subjectKeyIdentifier?.keyIdentifier)

        if let rootKeyDirectory {
            try AtomicFiles.write([.init(name: "root-key.pem", contents: rootKey.pem, mode: 0o600)], into: rootKeyDirectory)
        }
        var files: [AtomicFiles.Entry] = [
            .init(name: "root.pem", contents: try root.serializeAsPEM().pemString + "\n", mode: 0o644),
            .init(name: "intermediate.pem", contents: try intermediate.serializeAsPEM().pemString + "\n", mode: 0o644),
            .init(name: "intermediate-key.pem", contents: intermediateKey.pem, mode: 0o600),
        ]
        if rootKeyDirectory == nil {
            files.append(.init(name: "root-key.pem", contents: rootKey.pem, mode: 0o600))
        } else {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("root-key.pem"))
        }
        if force { try? FileManager.default.removeItem(at: directory.appendingPathComponent("registry.db")) }
        try AtomicFiles.write(files, into: directory)
        return try CertificateAuthority(directory: directory)
    }

    /// A CA certificate: keyCertSign and cRLSign, with the given path length.
    private static func caCertificate(subject: DistinguishedName, issuer: DistinguishedName, publicKey: Certificate.PublicKey,
                                      notBefore: Date, lifetime: TimeSpan, pathLength: Int, signer: SigningKey,
                                      authorityKeyIdentifier: ArraySlice<UInt8>?) throws -> Certificate
    {
        try Certificate(
            version: .v3, serialNumber: .random128(), publicKey: publicKey,
            notValidBefore: notBefore, notValidAfter: notBefore.addingTimeInterval(lifetime.timeInterval),
            issuer: issuer, subject: subject, signatureAlgorithm: signer.signatureAlgorithm,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: pathLength))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
                if let authorityKeyIdentifier { AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier) }
            },
            issuerPrivateKey: signer.certificateKey)
    }

    /// Opens the CA in `directory`.
    ///
    /// - Throws: ``HyperMeshError`` `notFound` when there is none, `corruptData` when a file does not parse.
    public init(directory: URL) throws {
        guard Self.exists(in: directory) else {
            throw HyperMeshError.notFound("no CA in \(directory.path); run `hypermesh ca init` first")
        }
        func read(_ name: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw HyperMeshError.io("cannot read \(path)")
            }
            return text
        }
        do {
            self.root = try Certificate(pemEncoded: try read("root.pem"))
            self.intermediate = try Certificate(pemEncoded: try read("intermediate.pem"))
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.corruptData("\(directory.path): root.pem or intermediate.pem is not a PEM certificate")
        }
        self.intermediateKey = try SigningKey(pem: try read("intermediate-key.pem"))
        guard self.intermediateKey.certificateKey.publicKey == self.intermediate.publicKey else {
            throw HyperMeshError.corruptData("\(directory.path): intermediate-key.pem does not match intermediate.pem")
        }
        self.directory = directory
        self.registry = try CertificateRegistry(path: directory.appendingPathComponent("registry.db").path)
        self.intermediatePEM = try self.intermediate.serializeAsPEM().pemString
        self.rootPEM = try self.root.serializeAsPEM().pemString
        self.intermediateKeyIdentifier = try self.intermediate.extensions.subjectKeyIdentifier?.keyIdentifier
    }
}
