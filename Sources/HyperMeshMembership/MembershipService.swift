import Foundation
import HyperMeshCore
import Logging
import STOQ
import TrustChain

/// The CA's side of joining: answers `hm-join/1` calls (the agent of the node that holds the mesh CA hands
/// them here from its STOQ server).
public struct MembershipService: Sendable {
    /// A member not heard from for this long is `Lost` (agents send a heartbeat every 3 s).
    public static let lostAfter: TimeInterval = 10

    private let authority: CertificateAuthority
    private let mesh: @Sendable () -> MeshDescription
    private let logger: Logger
    private let presence = PresenceBook()
    /// This node (the CA node): always `Ready`, at this address.
    private let selfNodeID: String?
    private let selfAddress: String?

    /// - Parameter mesh: the mesh's name and current validators, read at each join.
    public init(authority: CertificateAuthority, mesh: @escaping @Sendable () -> MeshDescription, selfNodeID: String? = nil,
                selfAddress: String? = nil, logger: Logger) {
        self.authority = authority
        self.mesh = mesh
        self.selfNodeID = selfNodeID
        self.selfAddress = selfAddress
        self.logger = logger
    }

    /// Every node that ever joined (or was certified here), newest certificate first per node.
    public func members(now: Date = Date()) throws -> [MeshMember] {
        let validators = Set(self.mesh().validators.map(\.id))
        var latest: [String: IssuedRecord] = [:]
        var live: Set<String> = []
        for record in try self.authority.registry.records() {
            guard let policy = record.policy, policy.hasPrefix("node:") else { continue }
            let nodeID = String(policy.dropFirst(5))
            if let earlier = latest[nodeID], earlier.notAfter > record.notAfter {} else { latest[nodeID] = record }
            if record.revokedAt == nil && record.notAfter > now { live.insert(nodeID) }
        }
        let seen = self.presence.snapshot()
        return latest.map { nodeID, record in
            let isSelf = nodeID == self.selfNodeID
            let heard = isSelf ? (now, self.selfAddress) : seen[nodeID].map { ($0.at, Optional($0.address)) }
            let status: MeshMember.Status = !live.contains(nodeID) ? .revoked
                : (heard.map { now.timeIntervalSince($0.0) <= Self.lostAfter } ?? false) ? .ready : .lost
            return MeshMember(nodeID: nodeID, name: record.commonName, address: heard?.1 ?? nil, validator: validators.contains(nodeID),
                              lastSeen: heard.map { Timestamp.format($0.0) }, status: status)
        }.sorted { ($0.name, $0.nodeID) < ($1.name, $1.nodeID) }
    }

    /// One call's reply; never throws: every failure is an `error` the caller reads.
    public func answer(_ request: [UInt8], caller: STOQCaller, now: Date = Date()) -> [UInt8] {
        let peerNodeID = caller.nodeID
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
            if let peerNodeID { self.presence.heard(from: peerNodeID, at: now, address: Self.address(call.listen, seenFrom: caller.address)) }
            do {
                return MembershipCoding.encode(MembershipReply(revocationListPEM: try self.authority.revocationList(now: now).pem))
            } catch {
                return Self.refusal("the CA could not make its CRL: \(error)")
            }
        case .members:
            guard peerNodeID != nil else { return Self.refusal("members is for members: it needs a node certificate (stoq/1)") }
            do {
                return MembershipCoding.encode(MembershipReply(members: try self.members(now: now)))
            } catch {
                return Self.refusal("the CA could not list the members: \(error)")
            }
        }
    }

    /// The address a member says it listens at, with a wildcard host replaced by where its packets come from.
    static func address(_ listen: String?, seenFrom source: SocketAddress) -> String {
        guard let listen, let parsed = try? SocketAddress(parsing: listen) else { return "\(source)" }
        let wildcard = parsed.host == "0.0.0.0" || parsed.host == "::"
        guard wildcard else { return listen }
        return source.family == AF_INET6 ? "[\(source.host)]:\(parsed.port)" : "\(source.host):\(parsed.port)"
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

/// When each member was last heard from, and where it listens.
final class PresenceBook: @unchecked Sendable {
    struct Seen {
        var at: Date
        var address: String
    }

    private let lock = NSLock()
    private var seen: [String: Seen] = [:]

    func heard(from nodeID: String, at time: Date, address: String) {
        self.lock.withLock { self.seen[nodeID] = Seen(at: time, address: address) }
    }

    func snapshot() -> [String: Seen] { self.lock.withLock { self.seen } }
}
