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
        }
    }

    private func admit(_ join: JoinRequest, now: Date) -> [UInt8] {
        do {
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
            return MembershipCoding.encode(MembershipReply(enrollment: EnrollmentReply(
                nodeID: enrollment.nodeID, serial: enrollment.serial, notAfter: Timestamp.format(enrollment.notAfter),
                certificatePEM: enrollment.certificatePEM, chainPEM: enrollment.chainPEM, rootPEM: enrollment.rootPEM,
                revocationListPEM: enrollment.revocationListPEM, validator: enrollment.validator, mesh: self.mesh())))
        } catch let refusal as JoinRefusal {
            self.logger.warning("Join refused", metadata: ["node": "\(join.nodeName)", "token": "\(join.tokenID)",
                                                           "reason": "\(refusal)"])
            return Self.refusal(refusal.description)
        } catch let error as HyperMeshError {
            self.logger.error("Join failed", metadata: ["node": "\(join.nodeName)", "error": "\(error.message)"])
            return Self.refusal("the CA could not issue the certificate: \(error.message)")
        } catch {
            return Self.refusal("the CA could not issue the certificate: \(error)")
        }
    }

    private static func refusal(_ message: String) -> [UInt8] { MembershipCoding.encode(MembershipReply(error: message)) }
}
