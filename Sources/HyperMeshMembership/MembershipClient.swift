import Crypto
import Foundation
import HyperMeshCore
import Logging
import STOQ
import SwiftASN1
import TrustChain
import X509

/// A member's calls to the mesh CA node over `stoq/1`, authenticated by its node certificate: the current
/// CRL, and a renewed certificate for its key.
public struct MembershipClient: Sendable {
    public let tls: TLSConfiguration
    public let caAddress: SocketAddress
    /// This node's STOQ server, when the call should leave from its one socket (an agent's); `nil`: a socket of its own.
    public let dialFrom: STOQServer?
    private let logger: Logger

    public init(tls: TLSConfiguration, caAddress: SocketAddress, dialFrom: STOQServer? = nil,
                logger: Logger = Logger(label: "hypermesh.membership")) {
        self.tls = tls
        self.caAddress = caAddress
        self.dialFrom = dialFrom
        self.logger = logger
    }

    /// The CA's current CRL (PEM); with `listen`, also this node's heartbeat (it is `Ready` to the mesh while
    /// these keep coming, at that address).
    public func revocationList(listen: String? = nil, timeout: Duration = .seconds(5)) throws -> String {
        let reply = try self.call(MembershipCall(operation: .crl, listen: listen), timeout: timeout)
        guard let pem = reply.revocationListPEM else { throw HyperMeshError.corruptData("\(self.caAddress) answered crl without one") }
        return pem
    }

    /// Every node of the mesh, as the CA node sees it.
    public func members(timeout: Duration = .seconds(5)) throws -> [MeshMember] {
        let reply = try self.call(MembershipCall(operation: .members), timeout: timeout)
        guard let members = reply.members else { throw HyperMeshError.corruptData("\(self.caAddress) answered members without a list") }
        return members
    }

    /// A new certificate for `nodeKey` (the key of the certificate this client presents), checked like a
    /// join's: for this key, naming this node, chaining to `root`.
    public func renew(nodeKey: P256.Signing.PrivateKey, root: Certificate, timeout: Duration = .seconds(10)) async throws
        -> (credentials: NodeCredentials, serial: String, notAfter: String)
    {
        let name = try DistinguishedName { CommonName("renewal") }
        let request = try CertificateSigningRequest(version: .v1, subject: name, privateKey: Certificate.PrivateKey(nodeKey),
                                                    attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        let reply = try self.call(MembershipCall(operation: .renew, renew: RenewRequest(
            certificateRequest: Data(serializer.serializedBytes).base64EncodedString())), timeout: timeout)
        guard let enrollment = reply.enrollment else { throw HyperMeshError.corruptData("\(self.caAddress) answered renew without a certificate") }
        let nodeID = SHA256.hash(data: nodeKey.publicKey.derRepresentation).hexString
        try await EnrollmentCheck.verify(enrollment, nodeKey: nodeKey, nodeID: nodeID, root: root, from: self.caAddress)
        let rootPEM = try root.serializeAsPEM().pemString
        return (NodeCredentials(certificatePEM: enrollment.certificatePEM, chainPEM: enrollment.chainPEM, rootPEM: rootPEM,
                                revocationListPEM: enrollment.revocationListPEM), enrollment.serial, enrollment.notAfter)
    }

    private func call(_ call: MembershipCall, timeout: Duration) throws -> MembershipReply {
        let client = try STOQClient(configuration: STOQClient.Configuration(tls: self.tls), logger: self.logger)
        let connection: STOQClientConnection
        do {
            connection = try client.connect(to: self.caAddress, preferringSocketOf: self.dialFrom, timeout: timeout)
        } catch let error as STOQError {
            throw HyperMeshError.io("cannot reach the mesh CA node at \(self.caAddress): \(error.message)")
        }
        defer { connection.close() }
        return try MembershipCoding.call(call, on: connection, at: self.caAddress, timeout: timeout)
    }
}
