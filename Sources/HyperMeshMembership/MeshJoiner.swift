import Crypto
import Foundation
import HyperMeshCore
import Logging
import STOQ
import SwiftASN1
import TrustChain
import X509

/// A node's STOQ credentials: its certificate, the chain it presents, the mesh root and the CA's CRL.
public struct NodeCredentials: Sendable {
    public var certificatePEM: String
    /// The node certificate followed by the intermediate: what STOQ presents.
    public var chainPEM: String
    public var rootPEM: String
    public var revocationListPEM: String

    public init(certificatePEM: String, chainPEM: String, rootPEM: String, revocationListPEM: String) {
        self.certificatePEM = certificatePEM
        self.chainPEM = chainPEM
        self.rootPEM = rootPEM
        self.revocationListPEM = revocationListPEM
    }

    /// Writes `cert.pem`, `chain.pem`, `key.pem` (the node key, 0600), `root.pem` and `crl.pem` into
    /// `directory` (STOQ's credentials, `STATE/stoq`), all or none.
    public func write(to directory: URL, nodeKeyPEM: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try AtomicFiles.write([
            .init(name: "cert.pem", contents: self.certificatePEM, mode: 0o644),
            .init(name: "chain.pem", contents: self.chainPEM, mode: 0o644),
            .init(name: "key.pem", contents: nodeKeyPEM, mode: 0o600),
            .init(name: "root.pem", contents: self.rootPEM.hasSuffix("\n") ? self.rootPEM : self.rootPEM + "\n", mode: 0o644),
            .init(name: "crl.pem", contents: self.revocationListPEM, mode: 0o644),
        ], into: directory)
    }
}

/// What a machine got by joining: its node certificate and what it needs to trust the mesh.
public struct JoinedMesh: Sendable {
    public var nodeID: String
    public var serial: String
    public var notAfter: String
    public var credentials: NodeCredentials
    public var validator: Bool
    public var mesh: MeshDescription
}

/// The joiner's side of `hm-join/1`: trusts nothing the server says until the root it shows has the
/// token's fingerprint and the server's own certificate chains to it; only then sends the token's secret.
public struct MeshJoiner: Sendable {
    public let nodeKey: P256.Signing.PrivateKey
    public let nodeName: String
    private let logger: Logger

    public init(nodeKey: P256.Signing.PrivateKey, nodeName: String, logger: Logger = Logger(label: "hypermesh.join")) {
        self.nodeKey = nodeKey
        self.nodeName = nodeName
        self.logger = logger
    }

    public var nodeID: String { SHA256.hash(data: self.nodeKey.publicKey.derRepresentation).hexString }

    /// Joins the mesh whose CA answers at `address`.
    ///
    /// - Throws: ``HyperMeshError`` `conflict` when the server is not the token's mesh (nothing secret was
    ///   sent then) or refuses the token or request (its reason); `io` when it cannot be reached.
    public func join(_ address: SocketAddress, token: JoinToken, timeout: Duration = .seconds(10)) async throws -> JoinedMesh {
        if let problem = ResourceName.problem(with: self.nodeName) {
            throw HyperMeshError.invalidArgument("node name \(problem)")
        }
        let client = try STOQClient(configuration: .anonymous(), logger: self.logger)
        let connection: STOQClientConnection
        do {
            connection = try client.connect(to: address, timeout: timeout)
        } catch let error as STOQError {
            throw HyperMeshError.io("cannot reach \(address): \(error.message)")
        }
        defer { connection.close() }

        // 1. Which root? Pinned by the token's fingerprint, and the server must hold a certificate under it.
        let hello = try MembershipCoding.call(MembershipCall(operation: .hello), on: connection, at: address, timeout: timeout)
        guard let rootPEM = hello.rootPEM, let root = try? Certificate(pemEncoded: rootPEM) else {
            throw HyperMeshError.corruptData("\(address) answered hello without a root certificate")
        }
        var serializer = DER.Serializer()
        try serializer.serialize(root)
        let fingerprint = JoinToken.fingerprint(ofDER: serializer.serializedBytes)
        guard fingerprint == token.rootFingerprint else {
            throw HyperMeshError.conflict("\(address) belongs to another mesh: its root is sha256 \(fingerprint), the token pins "
                + "\(token.rootFingerprint); nothing was sent (check the address, or someone is in between)")
        }
        let presented = connection.peerCertificateChain.compactMap { try? Certificate(derEncoded: $0) }
        if case .refused(let reasons) = await ChainVerifier.verify(chain: presented, at: Date(), roots: [root]) {
            throw HyperMeshError.conflict("\(address) shows the pinned root but its own certificate does not chain to it ("
                + reasons.joined(separator: "; ") + "); nothing was sent")
        }

        // 2. The token and a request for our own key.
        let request = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(self.nodeName) },
            privateKey: Certificate.PrivateKey(self.nodeKey), attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .ecdsaWithSHA256)
        var requestSerializer = DER.Serializer()
        try requestSerializer.serialize(request)
        let join = JoinRequest(tokenID: token.id, secret: token.secret, nodeName: self.nodeName, nodeID: self.nodeID,
                               certificateRequest: Data(requestSerializer.serializedBytes).base64EncodedString())
        let reply = try MembershipCoding.call(MembershipCall(operation: .join, join: join), on: connection, at: address, timeout: timeout)
        guard let enrollment = reply.enrollment else {
            throw HyperMeshError.corruptData("\(address) answered join without a certificate")
        }
        try await EnrollmentCheck.verify(enrollment, nodeKey: self.nodeKey, nodeID: self.nodeID, root: root, from: address)
        self.logger.info("Joined the mesh", metadata: ["mesh": "\(enrollment.mesh.name)", "node.id": "\(enrollment.nodeID)"])
        return JoinedMesh(nodeID: enrollment.nodeID, serial: enrollment.serial, notAfter: enrollment.notAfter,
                          credentials: NodeCredentials(certificatePEM: enrollment.certificatePEM, chainPEM: enrollment.chainPEM,
                                                       rootPEM: rootPEM, revocationListPEM: enrollment.revocationListPEM),
                          validator: enrollment.validator, mesh: enrollment.mesh)
    }
}

/// Collects a reply in memory, refusing one longer than `limit` as it arrives.
final class CollectingSink: ByteSink {
    private(set) var bytes: [UInt8] = []
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard self.bytes.count + bytes.count <= self.limit else {
            throw STOQError.protocolViolation("reply longer than \(self.limit) bytes")
        }
        self.bytes.append(contentsOf: bytes)
    }

    func finish() throws {}
}

/// What every certificate from the CA must be before it is used: for our key, naming our node, chaining to the root.
enum EnrollmentCheck {
    static func verify(_ enrollment: EnrollmentReply, nodeKey: P256.Signing.PrivateKey, nodeID: String, root: Certificate,
                       from address: SocketAddress) async throws {
        let chain: [Certificate]
        do {
            chain = try PEMDocument.parseMultiple(pemString: enrollment.chainPEM).map { try Certificate(pemDocument: $0) }
        } catch {
            throw HyperMeshError.corruptData("\(address) sent a certificate chain that does not parse: \(error)")
        }
        guard let leaf = chain.first, leaf.publicKey == Certificate.PublicKey(nodeKey.publicKey) else {
            throw HyperMeshError.corruptData("\(address) sent a certificate for another key")
        }
        let uris = (try? leaf.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            if case .uniformResourceIdentifier(let uri) = name { return uri }
            return nil
        } ?? []
        guard uris.contains("hm://\(nodeID)"), enrollment.nodeID == nodeID else {
            throw HyperMeshError.corruptData("\(address) sent a certificate that does not name node hm://\(nodeID)")
        }
        if case .refused(let reasons) = await ChainVerifier.verify(chain: chain, at: Date(), roots: [root]) {
            throw HyperMeshError.corruptData("\(address) sent a certificate that does not chain to the root: "
                + reasons.joined(separator: "; "))
        }
    }
}

extension MembershipCoding {
    /// One call on an open connection; a refusal in the reply is thrown as ``HyperMeshError`` `conflict`.
    static func call(_ call: MembershipCall, on connection: STOQClientConnection, at address: SocketAddress,
                     timeout: Duration) throws -> MembershipReply {
        let sink = CollectingSink(limit: Self.maximumBytes)
        do {
            try connection.perform(STOQRequest(.call(Self.encode(call)), sink: sink), timeout: timeout)
        } catch let error as STOQError {
            throw HyperMeshError.io("\(address): \(call.operation.rawValue) failed: \(error.message)")
        }
        let reply = try Self.decode(MembershipReply.self, from: sink.bytes, what: "\(address)'s \(call.operation.rawValue) reply")
        if let error = reply.error { throw HyperMeshError.conflict("\(address) refused to \(call.operation.rawValue): \(error)") }
        return reply
    }
}
