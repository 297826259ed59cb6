import Foundation
import HyperMeshTestSupport
import STOQ
import TrustChain

/// A mesh CA with server and client certificates, plus the bad ones a server must refuse: from another CA,
/// expired, and revoked (with the CRL that lists it). Made once per test process.
struct TestPKI: Sendable {
    static let shared: TestPKI = {
        do { return try TestPKI() } catch { fatalError("test PKI: \(error)") }
    }()

    let directory: TemporaryDirectory
    let server: TLSConfiguration
    let client: TLSConfiguration
    /// A client of another node (`secondClientNodeID`), and one whose certificate names no node.
    let secondClient: TLSConfiguration
    let anonymousClient: TLSConfiguration
    let foreignClient: TLSConfiguration
    let expiredClient: TLSConfiguration
    let revokedClient: TLSConfiguration
    /// The serial (hex) of `revokedClient`'s certificate.
    let revokedSerial: String
    /// The server's configuration with the CRL that lists `revokedClient`.
    let serverWithCRL: TLSConfiguration
    let serverNodeID = "5e7e0000000000000000000000000000000000000000000000000000000000aa"
    let clientNodeID = "c1e4000000000000000000000000000000000000000000000000000000000bb"
    let secondClientNodeID = "c2e4000000000000000000000000000000000000000000000000000000000cc"

    private init() throws {
        let directory = try TemporaryDirectory(prefix: "stoq-pki")
        self.directory = directory
        let root = directory.url
        let ca = try CertificateAuthority.initialize(in: root.appendingPathComponent("ca"), name: "stoq-test")
        let rootPEM = root.appendingPathComponent("ca/root.pem").path

        func issue(_ name: String, by authority: CertificateAuthority, roots: String, uris: [String] = [],
                   now: Date = Date(), minutes: Int64 = 60) throws -> (TLSConfiguration, String) {
            let request = IssuanceRequest(commonName: name, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"],
                                          uris: uris, usage: .both, duration: .minutes(minutes),
                                          keyAlgorithm: .p256)
            let out = root.appendingPathComponent(name)
            let issued = try authority.issue(request, now: now, writingTo: out)
            return (TLSConfiguration(certificateChainPath: out.appendingPathComponent("chain.pem").path,
                                     privateKeyPath: out.appendingPathComponent("key.pem").path, trustedRootsPath: roots),
                    issued.serial)
        }
        self.server = try issue("server", by: ca, roots: rootPEM, uris: ["hm://\(self.serverNodeID)"]).0
        self.client = try issue("client", by: ca, roots: rootPEM, uris: ["hm://\(self.clientNodeID)"]).0
        self.secondClient = try issue("second-client", by: ca, roots: rootPEM, uris: ["hm://\(self.secondClientNodeID)"]).0
        self.anonymousClient = try issue("anonymous", by: ca, roots: rootPEM).0
        self.expiredClient = try issue("expired", by: ca, roots: rootPEM, now: Date().addingTimeInterval(-7200)).0
        let (revoked, serial) = try issue("revoked", by: ca, roots: rootPEM)
        self.revokedClient = revoked
        self.revokedSerial = serial
        try ca.revoke(serial: serial, reason: .keyCompromise)
        let crlPath = root.appendingPathComponent("crl.pem").path
        try ca.revocationList().pem.write(toFile: crlPath, atomically: true, encoding: .utf8)
        var withCRL = self.server
        withCRL.revocationListPath = crlPath
        self.serverWithCRL = withCRL

        let other = try CertificateAuthority.initialize(in: root.appendingPathComponent("other-ca"), name: "other")
        self.foreignClient = try issue("foreign", by: other, roots: rootPEM).0
    }
}
