import Foundation
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshMembership
import Logging
import ServiceLifecycle
import TrustChain

/// On the node that holds the mesh CA, while it validates: keeps the ledger's validator set what the CA's
/// records say it should be. A node that joined with a validator token (`mesh token --validator`) is added once
/// its heartbeat committed and it is not `Lost` (a validator that cannot vote would only cost the others their
/// quorum); a node removed from the mesh (`mesh remove`, its certificates revoked) is taken out. Each change is
/// one `reconfigure` operation for the next epoch, proposed again every ``retry`` until it commits; validators
/// that stay keep their place, new ones follow in node-id order.
struct ValidatorSetKeeper: Service {
    static let interval: Duration = .seconds(1)
    static let retry: TimeInterval = 5

    let ledger: AgentLedger
    let authority: CertificateAuthority
    let membership: MembershipService
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var proposed: (epoch: UInt64, members: [ValidatorMember], at: Date)?
            while !Task.isCancelled {
                do {
                    if let (epoch, _) = self.ledger.hostedEpoch, let wanted = try self.wanted(after: epoch), wanted != epoch.members {
                        let now = Date()
                        if proposed == nil || proposed!.epoch != epoch.number + 1 || proposed!.members != wanted
                            || now.timeIntervalSince(proposed!.at) > Self.retry {
                            let next = try self.ledger.proposeValidators(wanted)
                            proposed = (next, wanted, now)
                            self.logger.info("Validator set change proposed", metadata: [
                                "epoch": "\(next)", "validators": "\(wanted.map { String($0.nodeID.prefix(12)) })",
                            ])
                        }
                    }
                } catch {
                    self.logger.warning("Cannot keep the validator set", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: Self.interval)
            }
        }
    }

    /// The validators the next epoch should have, or `nil` when nothing can be said yet.
    func wanted(after epoch: ValidatorEpoch) throws -> [ValidatorMember]? {
        let members = try self.membership.members()
        let revoked = Set(members.filter { $0.status == .revoked }.map(\.nodeID))
        let heard = Dictionary(members.compactMap { member in member.address.map { (member.nodeID, $0) } }, uniquingKeysWith: { first, _ in first })
        let ledgerState = self.ledger.committed()
        let promised = Set(try self.authority.registry.joinTokens().filter(\.validator).compactMap(\.usedBy))
        var wanted = epoch.members.filter { !revoked.contains($0.nodeID) }
        for nodeID in promised.subtracting(wanted.map(\.nodeID)).subtracting(revoked).sorted() {
            // Only a node that is alive on the ledger, at an address others can dial.
            guard let member = ledgerState.mesh.members[nodeID], !ledgerState.mesh.isLost(nodeID) else { continue }
            let address = Self.isWildcard(member.address) ? heard[nodeID] : member.address
            guard let address, !address.isEmpty, !Self.isWildcard(address) else { continue }
            wanted.append(ValidatorMember(nodeID: nodeID, address: address))
        }
        return wanted.isEmpty ? nil : wanted
    }

    static func isWildcard(_ address: String) -> Bool {
        address.hasPrefix("0.0.0.0:") || address.hasPrefix("[::]:") || address.isEmpty
    }
}
