import Foundation
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// A pool that is not `private` is offered on the mesh ledger, so other members can claim from it: its status
/// shows `offer` — the height of the block that committed the current terms, what the mesh holds of it — or
/// that the offer waits to commit, or why the ledger refused it. A pool made `private` (or deleted) is withdrawn,
/// after a grace for the claims other nodes hold on it.
extension ResourcePoolController {
    /// How long other nodes' claims keep a pool that shrank below them or is withdrawn, when its spec does not
    /// say (`evictionGrace`).
    public static let defaultEvictionGrace = TimeSpan.seconds(30)

    /// The status field `offer`, and how soon to look again (while waiting for a commit).
    func reconcileOffer(of object: StoredObject, offer: PoolOffer, ledger: any MeshLedgerAccess, now: Date) throws
        -> (field: JSONValue?, requeue: TimeSpan?)
    {
        let committed = ledger.committed()
        let key = MeshLedger.OfferKey(node: ledger.nodeID, pool: object.key.name)
        let current = committed.mesh.offers[key]
        let previous = LedgerSubmission(json: object.status?.fields["offer"]?["submitted"])
        guard let terms = offer.ledgerTerms else {
            guard let current else { return (nil, nil) }
            let step = try self.withdraw(object, offer: current, committed: committed, ledger: ledger,
                                         previous: previous.flatMap { $0.isDue(now: now) ? nil : $0 }, now: now)
            return (step.field, .seconds(1))
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

    /// Before the pool goes: its offer is withdrawn (after the claims on it had their grace, which ends them) and
    /// the deletion waits until the ledger committed that.
    func withdrawOffer(of object: StoredObject, ledger: any MeshLedgerAccess) throws {
        let committed = ledger.committed()
        guard let current = committed.mesh.offers[MeshLedger.OfferKey(node: ledger.nodeID, pool: object.key.name)] else { return }
        let step = try self.withdraw(object, offer: current, committed: committed, ledger: ledger, previous: nil, now: Date())
        throw CleanupWaiting("pool \(object.key.name) waits for the mesh ledger: \(step.waiting)", waitingFor: [])
    }

    /// One step of withdrawing an offer that other nodes may hold claims on: with none, the withdrawal; else the
    /// offer is first closed to new claims (`maxPerClaim` zero), and withdrawn — ending the claims, `OfferWithdrawn`
    /// on their consumers — once the pool's `evictionGrace` (default 30 s) of ledger time has passed since it closed.
    /// `previous`: a submission still awaited, so nothing is sent again yet.
    private func withdraw(_ object: StoredObject, offer: MeshLedger.Offer, committed: LedgerState, ledger: any MeshLedgerAccess,
                          previous: LedgerSubmission?, now: Date) throws -> (field: JSONValue, waiting: String) {
        let grace = object.spec["evictionGrace"]?.stringValue.flatMap { try? TimeSpan(parsing: $0) } ?? Self.defaultEvictionGrace
        if offer.placementCount > 0 && !offer.isClosing {
            let submitted = try previous ?? LedgerSubmission(operation: ledger.submit(.offer, subject: object.key.name, terms: .offer(
                OfferTerms(privacy: offer.terms.privacy, allow: offer.terms.allow, total: offer.terms.total, maximumPerClaim: .zero))), at: now)
            return (["state": "Closing", "placements": .integer(Int64(offer.placementCount)), "submitted": submitted.json],
                    "closing the offer to new claims")
        }
        let endsAt = offer.termsTimeMilliseconds + grace.milliseconds
        if offer.placementCount > 0 && committed.mesh.timeMilliseconds < endsAt {
            let end = Timestamp.format(millisecondsSince1970: endsAt)
            return (["state": "Closing", "placements": .integer(Int64(offer.placementCount)), "placementsEndAt": .string(end)],
                    "\(offer.placementCount) claims of other nodes keep the pool until \(end) (evictionGrace \(grace))")
        }
        let submitted = try previous ?? LedgerSubmission(operation: ledger.submit(.withdraw, subject: object.key.name, terms: .none), at: now)
        return (["state": "Withdrawing", "submitted": submitted.json], "committing the withdrawal of its offer")
    }
}
