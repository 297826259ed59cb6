import Crypto
import Foundation
import HyperMeshCore
import SwiftASN1
import X509

/// What a machine that joined receives: its node certificate and what it needs to trust the mesh.
public struct Enrollment: Sendable {
    public var nodeID: String
    public var nodeName: String
    public var serial: String
    public var notAfter: Date
    /// The node certificate alone, and followed by the intermediate (`chain.pem`).
    public var certificatePEM: String
    public var chainPEM: String
    public var rootPEM: String
    /// The CA's current CRL.
    public var revocationListPEM: String
    /// Whether the token made the joiner a validator.
    public var validator: Bool
}

extension CertificateAuthority {
    /// How long a node certificate issued at join lasts; the agent renews it before it ends.
    public static let nodeCertificateLifetime = TimeSpan.hours(24 * 30)

    /// The SHA-256 of the root certificate's DER, hex: what join tokens pin.
    public var rootFingerprint: String {
        get throws {
            var serializer = DER.Serializer()
            try serializer.serialize(self.root)
            return JoinToken.fingerprint(ofDER: serializer.serializedBytes)
        }
    }

    /// Makes a single-use join token valid for `lifetime`, storing only its secret's hash. The node
    /// certificate it gets lasts `certificateLifetime` (at least 1m; default ``nodeCertificateLifetime``), and
    /// so does each renewal of it.
    public func makeJoinToken(lifetime: TimeSpan, validator: Bool = false, certificateLifetime: TimeSpan? = nil,
                              now: Date = Date()) throws -> JoinToken {
        guard lifetime >= .minutes(1) else { throw HyperMeshError.invalidArgument("a join token lives at least 1m (got \(lifetime))") }
        if let certificateLifetime, certificateLifetime < IssuanceRequest.minimumDuration {
            throw HyperMeshError.invalidArgument("a node certificate lasts at least \(IssuanceRequest.minimumDuration) (got \(certificateLifetime))")
        }
        let token = JoinToken.generate(rootFingerprint: try self.rootFingerprint)
        try self.registry.insert(token, createdAt: now, expiresAt: now.addingTimeInterval(lifetime.timeInterval),
                                 validator: validator, certificateLifetime: certificateLifetime)
        return token
    }

    /// Admits a machine: checks its request and its token, consumes the token and signs a node certificate
    /// for the request's key (CN = `nodeName`, URI SAN `hm://NODE-ID`, server and client use), recorded and
    /// logged like every certificate this CA issues.
    ///
    /// The request is checked before the token is consumed, so a malformed request does not burn a token;
    /// a certificate that cannot be signed gives the token back.
    ///
    /// - Parameters:
    ///   - claimedNodeID: the node id the joiner says it has; it must be the hash of the request's key.
    ///   - requestDER: a PKCS #10 request for a P-256 key (the node key), signed by that key.
    /// - Throws: ``JoinRefusal`` for everything the joiner got wrong; ``HyperMeshError`` for the CA's own failures.
    public func enroll(token: JoinToken, nodeName: String, claimedNodeID: String, requestDER: [UInt8],
                       now: Date = Date()) throws -> Enrollment
    {
        if ResourceName.problem(with: nodeName) != nil { throw JoinRefusal.invalidNodeName(nodeName) }
        let publicKey = try Self.checkNodeRequest(requestDER, claimedNodeID: claimedNodeID)
        let nodeID = claimedNodeID.lowercased()
        let record = try self.registry.consume(token, by: nodeID, at: now)
        do {
            // A machine joining again replaces what it held: its earlier certificates are superseded.
            return try self.issueNodeCertificate(nodeID: nodeID, nodeName: nodeName, publicKey: publicKey,
                                                 lifetime: record.certificateLifetime ?? Self.nodeCertificateLifetime,
                                                 validator: record.validator, superseding: true, now: now)
        } catch {
            try? self.registry.restore(tokenID: token.id)
            throw error
        }
    }

    /// Renews a member's node certificate: `nodeID` is who the caller proved to be (its current certificate,
    /// checked by mutual TLS), the request must be for that same key, and the node must still hold a live,
    /// unrevoked certificate here. The new certificate keeps the node's name; the old one stays valid until it ends.
    ///
    /// - Throws: ``JoinRefusal`` `notAMember` for a revoked or unknown node; the request's refusals as ``enroll``.
    public func renewNodeCertificate(nodeID: String, requestDER: [UInt8], now: Date = Date()) throws -> Enrollment {
        let publicKey = try Self.checkNodeRequest(requestDER, claimedNodeID: nodeID)
        guard let current = try self.registry.records().last(where: {
            $0.policy == "node:\(nodeID)" && $0.revokedAt == nil && $0.notAfter > now
        }) else {
            throw JoinRefusal.notAMember(nodeID)
        }
        // The old certificate is not revoked: connections made with it stay up until it expires. The new one
        // lasts as long as the old one did.
        let lifetime = TimeSpan(milliseconds: Int64((current.notAfter.timeIntervalSince(current.notBefore) * 1000).rounded()))
        return try self.issueNodeCertificate(nodeID: nodeID, nodeName: current.commonName, publicKey: publicKey,
                                             lifetime: max(lifetime, IssuanceRequest.minimumDuration),
                                             validator: false, superseding: false, now: now)
    }

    /// Revokes every live certificate of the node with this id (or id prefix of at least 8 digits, or name);
    /// returns the serials revoked.
    ///
    /// - Throws: ``HyperMeshError`` `notFound` when no live node certificate matches; `invalidArgument` when
    ///   more than one node does.
    public func revokeNode(_ node: String, reason: RevocationReason = .cessationOfOperation, now: Date = Date()) throws
        -> (nodeID: String, serials: [String])
    {
        let live = try self.registry.records().filter { $0.policy?.hasPrefix("node:") == true && $0.revokedAt == nil && $0.notAfter > now }
        let wanted = node.lowercased()
        let matching = live.filter { record in
            let id = String(record.policy!.dropFirst(5))
            return id == wanted || (wanted.count >= 8 && id.hasPrefix(wanted)) || record.commonName == node
        }
        let nodes = Set(matching.map { String($0.policy!.dropFirst(5)) })
        guard let nodeID = nodes.first else {
            throw HyperMeshError.notFound("no live node certificate for \(node) (by node id, id prefix or name)")
        }
        guard nodes.count == 1 else {
            throw HyperMeshError.invalidArgument("\(node) names \(nodes.count) nodes; give the node id")
        }
        for record in matching { try self.revoke(serial: record.serial, reason: reason, now: now) }
        return (nodeID, matching.map(\.serial))
    }

    /// A PKCS #10 request for a P-256 key, signed by it, whose key is the node `claimedNodeID`.
    static func checkNodeRequest(_ requestDER: [UInt8], claimedNodeID: String) throws -> Certificate.PublicKey {
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(derEncoded: requestDER)
        } catch {
            throw JoinRefusal.unreadableRequest("not DER-encoded PKCS #10 (\(error))")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else { throw JoinRefusal.signatureInvalid }
        guard let nodeKey = P256.Signing.PublicKey(request.publicKey) else {
            throw JoinRefusal.unreadableRequest("node keys are P-256; the request carries another kind of key")
        }
        let nodeID = SHA256.hash(data: nodeKey.derRepresentation).hexString
        guard nodeID == claimedNodeID.lowercased() else { throw JoinRefusal.nodeIDMismatch(claimed: claimedNodeID, ofKey: nodeID) }
        return request.publicKey
    }

    private func issueNodeCertificate(nodeID: String, nodeName: String, publicKey: Certificate.PublicKey, lifetime: TimeSpan,
                                      validator: Bool, superseding: Bool, now: Date) throws -> Enrollment {
        let remaining = TimeSpan(milliseconds: Int64(self.intermediate.notValidAfter.timeIntervalSince(now) * 1000) - 60_000)
        let issuance = IssuanceRequest(commonName: nodeName, uris: ["hm://\(nodeID)"], usage: .both,
                                       duration: min(lifetime, remaining), policy: "node:\(nodeID)")
        let (issued, der) = try self.makeCertificate(issuance, now: now, publicKey: publicKey)
        try self.registry.record(issued, commonName: nodeName, policy: issuance.policy, entry: der, now: now)
        if superseding { try self.supersede(policy: "node:\(nodeID)", except: issued.serial, now: now) }
        return Enrollment(nodeID: nodeID, nodeName: nodeName, serial: issued.serial,
                          notAfter: issued.certificate.notValidAfter, certificatePEM: issued.certificatePEM,
                          chainPEM: issued.chainPEM, rootPEM: self.rootPEM,
                          revocationListPEM: try self.revocationList(now: now).pem, validator: validator)
    }
}
