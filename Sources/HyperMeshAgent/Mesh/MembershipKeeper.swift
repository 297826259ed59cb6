import Crypto
import Foundation
import HyperMeshControllers
import HyperMeshCore
import HyperMeshMembership
import Logging
import ServiceLifecycle
import STOQ
import SwiftASN1
import TrustChain
import X509

/// Keeps this node's mesh credentials current while the agent runs, so that a revocation reaches every
/// node's STOQ server within seconds and no certificate runs out:
///
/// - the CRL: from this node's own CA, or asked of the CA node (the Mesh's first bootstrap peer) every
///   ``interval`` — which is also this node's heartbeat (the CA node shows it `Lost` when they stop); when the revoked serials change it is written to `STATE/stoq/crl.pem`, the STOQ server
///   reloads it and closes the connections of the peers it revokes;
/// - the node certificate: renewed (same key) once two thirds of its life have passed, through the CA node
///   (`renew` over `stoq/1`, authenticated by the certificate being renewed) or this node's own CA.
///
/// Its mutable state is touched only by its own thread (``run()`` starts one).
final class MembershipKeeper: Service, @unchecked Sendable {
    static let interval: TimeInterval = 3

    private let stateDirectory: URL
    private let authority: CertificateAuthority?
    private let caAddress: SocketAddress?
    private let server: ShardServer
    /// Where this node's STOQ server listens, sent with each heartbeat.
    private let listen: String
    private let logger: Logger
    private var appliedRevocations: Set<String>?
    private var nextRenewalAttempt = Date.distantPast

    init(stateDirectory: URL, authority: CertificateAuthority?, caAddress: SocketAddress?, server: ShardServer, listen: String,
         logger: Logger) {
        self.stateDirectory = stateDirectory
        self.listen = listen
        self.authority = authority
        self.caAddress = caAddress
        self.server = server
        self.logger = logger
    }

    private var tlsDirectory: URL { NodeTLS.directory(self.stateDirectory) }

    func run() async throws {
        let stop = StopFlag()
        await runBlocking(named: "mesh-membership", { self.keep(until: stop) }, stop: { stop.set() })
    }

    private func keep(until stop: StopFlag) {
        while !stop.isSet {
            self.refreshRevocations()
            self.renewIfDue()
            let deadline = Date().addingTimeInterval(Self.interval)
            while !stop.isSet && Date() < deadline { usleep(50_000) }
        }
    }

    // MARK: - CRL

    private func refreshRevocations() {
        do {
            let pem: String
            if let authority {
                pem = try authority.revocationList().pem
            } else if let caAddress {
                pem = try MembershipClient(tls: NodeTLS.configuration(self.stateDirectory), caAddress: caAddress,
                                     dialFrom: self.server.stoqServer, logger: self.logger)
                    .revocationList(listen: self.listen)
            } else {
                return
            }
            let list = try RevocationList(pemOrDER: Array(pem.utf8), issuer: try self.intermediate())
            let revoked = list.revokedSerials
            let current = self.tlsDirectory.appendingPathComponent("crl.pem")
            guard revoked != self.appliedRevocations || Self.isStale(current) else { return }
            try AtomicFiles.write([.init(name: "crl.pem", contents: pem, mode: 0o644)], into: self.tlsDirectory)
            try self.server.reload(stateDirectory: self.stateDirectory, revoked: revoked)
            if let before = self.appliedRevocations, revoked != before {
                self.logger.notice("Revocation list changed", metadata: ["revoked": "\(revoked.count)", "new": "\(revoked.subtracting(before).count)"])
            }
            self.appliedRevocations = revoked
        } catch {
            self.logger.warning("Cannot refresh the revocation list", metadata: ["error": "\(error)"])
        }
    }

    /// The CA signs CRLs with its intermediate: the second certificate of our chain.
    private func intermediate() throws -> Certificate {
        let chain = try String(contentsOf: self.tlsDirectory.appendingPathComponent("chain.pem"), encoding: .utf8)
        let documents = try PEMDocument.parseMultiple(pemString: chain)
        guard documents.count >= 2 else { throw HyperMeshError.corruptData("\(self.tlsDirectory.path)/chain.pem has no intermediate") }
        return try Certificate(pemDocument: documents[1])
    }

    /// A CRL file that is missing, unreadable or past half its life is written again even when nothing changed.
    private static func isStale(_ file: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: file.path),
              let document = try? PEMDocument(pemString: String(decoding: data, as: UTF8.self)),
              let modified = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date,
              !document.derBytes.isEmpty else { return true }
        return Date().timeIntervalSince(modified) > CertificateAuthority.revocationListLifetime.timeInterval / 2
    }

    // MARK: - Renewal

    private func renewIfDue() {
        guard Date() >= self.nextRenewalAttempt else { return }
        do {
            let certificate = try Certificate(pemEncoded: String(contentsOf: self.tlsDirectory.appendingPathComponent("cert.pem"),
                                                                 encoding: .utf8))
            let life = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
            let due = certificate.notValidBefore.addingTimeInterval(life * 2 / 3)
            guard Date() >= due else {
                self.nextRenewalAttempt = min(due, Date().addingTimeInterval(3600))
                return
            }
            let identity = try NodeIdentity.loadOrCreate(in: self.stateDirectory).identity
            let credentials: NodeCredentials
            let serial: String
            if let authority {
                let enrollment = try authority.renewNodeCertificate(nodeID: identity.nodeID,
                                                                    requestDER: try Self.request(for: identity.privateKey))
                credentials = NodeCredentials(certificatePEM: enrollment.certificatePEM, chainPEM: enrollment.chainPEM,
                                              rootPEM: enrollment.rootPEM, revocationListPEM: enrollment.revocationListPEM)
                serial = enrollment.serial
            } else if let caAddress {
                let root = try Certificate(pemEncoded: String(contentsOf: self.tlsDirectory.appendingPathComponent("root.pem"),
                                                              encoding: .utf8))
                let client = MembershipClient(tls: NodeTLS.configuration(self.stateDirectory), caAddress: caAddress,
                                     dialFrom: self.server.stoqServer, logger: self.logger)
                let key = identity.privateKey
                let renewed = try blockingAwait { try await client.renew(nodeKey: key, root: root) }
                (credentials, serial) = (renewed.credentials, renewed.serial)
            } else {
                return
            }
            try credentials.write(to: self.tlsDirectory, nodeKeyPEM: identity.privateKey.pemRepresentation)
            try self.server.reload(stateDirectory: self.stateDirectory, revoked: self.appliedRevocations ?? [])
            self.logger.notice("Node certificate renewed", metadata: ["serial": "\(serial)"])
            self.nextRenewalAttempt = Date()
        } catch {
            // Try again in a minute: the CA node may be away for a while; the certificate is still valid.
            self.nextRenewalAttempt = Date().addingTimeInterval(60)
            self.logger.warning("Cannot renew the node certificate", metadata: ["error": "\(error)"])
        }
    }

    static func request(for key: P256.Signing.PrivateKey) throws -> [UInt8] {
        let request = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName { CommonName("renewal") },
                                                    privateKey: Certificate.PrivateKey(key), attributes: .init(),
                                                    signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }
}

/// Runs async work from a thread of our own (never from the cooperative pool), waiting for its result.
func blockingAwait<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
    let semaphore = DispatchSemaphore(value: 0)
    let box = ResultBox<Value>()
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        semaphore.signal()
    }
    semaphore.wait()
    return try box.result!.get()
}

private final class ResultBox<Value: Sendable>: @unchecked Sendable {
    var result: Result<Value, any Error>?
}
