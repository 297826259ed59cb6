import Foundation
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// A pool that is not `private` is offered on the mesh ledger, so other members can claim from it: its status
/// shows `offer` — the height of the block that committed the current terms, what the mesh holds of it — or
/// that the offer waits to commit, or why the ledger refused it. A pool made `private` is withdrawn.
extension ResourcePoolController {
    /// The status field `offer`, and how soon to look again (while waiting for a commit).
    func reconcileOffer(of object: StoredObject, offer: PoolOffer, ledger: any MeshLedgerAccess, now: Date) throws
        -> (field: JSONValue?, requeue: TimeSpan?)
    {
        let committed = ledger.committed()
        let key = MeshLedger.OfferKey(node: ledger.nodeID, pool: object.key.name)
        let current = committed.mesh.offers[key]
        let previous = LedgerSubmission(json: object.status?.fields["offer"]?["submitted"])
        guard let terms = offer.ledgerTerms else {
            guard current != nil else { return (nil, nil) }
            if previous.map({ $0.isDue(now: now) }) ?? true {
                let digest = try ledger.submit(.withdraw, subject: object.key.name, terms: .none)
                return (["state": "Withdrawing", "submitted": LedgerSubmission(operation: digest, at: now).json], .seconds(1))
            }
            return (object.status?.fields["offer"], .seconds(1))
        }
        if let current, current.terms == terms {
            return (["state": "Offered", "height": .integer(Int64(current.height)), "claimedByMesh": ResourceAmounts(current.claimed).json,
                     "placements": .integer(Int64(current.placementCount))], .seconds(30))
        }
        if let previous, let reason = previous.refusal(in: committed) {
            return (["state": "Refused", "reason": .string(reason), "submitted": previous.json], .minutes(1))
        }
        if let previous, !previous.isDue(now: now) {
            return (["state": "Submitted", "submitted": previous.json], .seconds(1))
        }
        let digest = try ledger.submit(.offer, subject: object.key.name, terms: .offer(terms))
        return (["state": "Submitted", "submitted": LedgerSubmission(operation: digest, at: now).json], .seconds(1))
    }

    /// Before the pool goes: its offer is withdrawn (which ends the mesh's claims on it) and the deletion waits
    /// until the ledger committed that.
    func withdrawOffer(of object: StoredObject, ledger: any MeshLedgerAccess) throws {
        let key = MeshLedger.OfferKey(node: ledger.nodeID, pool: object.key.name)
        guard ledger.committed().mesh.offers[key] != nil else { return }
        try ledger.submit(.withdraw, subject: object.key.name, terms: .none)
        throw CleanupWaiting("pool \(object.key.name) waits for the mesh ledger to commit the withdrawal of its offer", waitingFor: [])
    }
}
