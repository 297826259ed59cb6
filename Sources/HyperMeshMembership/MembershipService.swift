import Foundation
import HyperMeshCore
import Logging
import TrustChain

/// The CA's side of joining: answers `hm-join/1` calls (the agent of the node that holds the mesh CA hands
/// them here from its STOQ server).
public struct MembershipService: Sendable {
    private let authority: CertificateAuthority
    private let mesh: @Sendable () -> MeshDescription
    private let logger: Logger

    /// - Parameter mesh: the mesh's name and current validators, read at each join.
    public init(authority: CertificateAuthority, mesh: @escaping @Sendable () -> MeshDescription, logger: Logger) {
        self.authority = authority
        self.mesh = mesh
        self.logger = logger
    }

    /// One call's reply; never throws: every failure is an `error` the joiner reads.
    public func answer(_ request: [UInt8], peerNodeID: String?, now: Date = Date()) -> [UInt8] {
        let call: MembershipCall
        do {
            call = try MembershipCoding.decode(MembershipCall.self, from: request, what: "membership call")
        } catch let error as HyperMeshError {
            return Self.refusal(error.message)
        } catch {
            return Self.refusal("\(error)")
        }
        switch call.operation {
        case .hello:
            return MembershipCoding.encode(MembershipReply(rootPEM: self.authority.rootPEM))
        case .join:
            guard let join = call.join else { return Self.refusal("membership call: join needs its \"join\" object") }
            return self.admit(join, now: now)
        case .renew:
            guard let peerNodeID else {
                return Self.refusal("renew needs the node's current certificate (over stoq/1, with mutual TLS)")
            }
            guard let renew = call.renew else { return Self.refusal("membership call: renew needs its \"renew\" object") }
            return self.renew(peerNodeID, renew, now: now)
        case .crl:
            do {
                return MembershipCoding.encode(MembershipReply(revocationListPEM: try self.authority.revocationList(now: now).pem))
            } catch {
                return Self.refusal("the CA could not make its CRL: \(error)")
            }
        }
    }

    private func renew(_ nodeID: String, _ renew: RenewRequest, now: Date) -> [UInt8] {
        self.issuing(for: nodeID) {
            guard let der = Data(base64Encoded: renew.certificateRequest) else {
                throw JoinRefusal.unreadableRequest("certificateRequest is not base64")
            }
            let enrollment = try self.authority.renewNodeCertificate(nodeID: nodeID, requestDER: Array(der), now: now)
            self.logger.info("Node certificate renewed", metadata: [
                "node": "\(enrollment.nodeName)", "node.id": "\(nodeID)", "serial": "\(enrollment.serial)",
            ])
            return enrollment
        }
    }

    private func admit(_ join: JoinRequest, now: Date) -> [UInt8] {
        self.issuing(for: join.nodeName) {
            guard let der = Data(base64Encoded: join.certificateRequest) else {
                throw JoinRefusal.unreadableRequest("certificateRequest is not base64")
            }
            let token = JoinToken(id: join.tokenID, secret: join.secret, rootFingerprint: try self.authority.rootFingerprint)
            let enrollment = try self.authority.enroll(token: token, nodeName: join.nodeName, claimedNodeID: join.nodeID,
                                                       requestDER: Array(der), now: now)
            self.logger.info("Node joined the mesh", metadata: [
                "node": "\(enrollment.nodeName)", "node.id": "\(enrollment.nodeID)", "serial": "\(enrollment.serial)",
                "validator": "\(enrollment.validator)",
            ])
            return enrollment
        }
    }

    /// Runs `issue` and answers with its certificate, or with why not.
    private func issuing(for node: String, _ issue: () throws -> Enrollment) -> [UInt8] {
        do {
            let enrollment = try issue()
            return MembershipCoding.encode(MembershipReply(enrollment: EnrollmentReply(
                nodeID: enrollment.nodeID, serial: enrollment.serial, notAfter: Timestamp.format(enrollment.notAfter),
                certificatePEM: enrollment.certificatePEM, chainPEM: enrollment.chainPEM, rootPEM: enrollment.rootPEM,
                revocationListPEM: enrollment.revocationListPEM, validator: enrollment.validator, mesh: self.mesh())))
        } catch let refusal as JoinRefusal {
            self.logger.warning("Certificate refused", metadata: ["node": "\(node)", "reason": "\(refusal)"])
            return Self.refusal(refusal.description)
        } catch let error as HyperMeshError {
            self.logger.error("Certificate not issued", metadata: ["node": "\(node)", "error": "\(error.message)"])
            return Self.refusal("the CA could not issue the certificate: \(error.message)")
        } catch {
            return Self.refusal("the CA could not issue the certificate: \(error)")
        }
    }

    private static func refusal(_ message: String) -> [UInt8] { MembershipCoding.encode(MembershipReply(error: message)) }
}
