import HyperMeshConsensus
import HyperMeshControllers
import Logging
import ServiceLifecycle

/// Tells the mesh this node is alive: a signed `heartbeat` operation every ``interval`` with the node's name
/// and STOQ address. Every node reads the others' liveness from its own copy of the ledger: a node silent for
/// ``MeshLedger/lostAfterMilliseconds`` of ledger time is `Lost` everywhere at the same height, and the ledger
/// places nothing more on its pools (what is placed stays).
struct LedgerHeartbeat: Service {
    static let interval: Duration = .seconds(3)

    let ledger: any MeshLedgerAccess
    let name: String
    let address: String
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try self.ledger.submit(.heartbeat, subject: self.name, terms: .heartbeat(HeartbeatTerms(name: self.name, address: self.address)))
                    failing = false
                } catch {
                    if !failing { self.logger.warning("Cannot send this node's heartbeat", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try await Task.sleep(for: Self.interval)
            }
        }
    }
}
