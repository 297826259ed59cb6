import Foundation
import HyperMeshConsensus
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore

/// A claim with `spec.node` is placed on that node's offered pool through the mesh ledger: the ledger decides
/// (capacity, `maxPerClaim`, privacy), the provider's agent enforces what was placed and acknowledges it, and
/// only then is the claim `Bound` here — with the provider, the ledger heights and the allocation in its
/// status. Deleting it ends the placement; the provider frees everything.
extension ClaimController {
    func reconcilePlaced(_ object: StoredObject, request: ClaimRequest, provider reference: String, context: ReconcileContext, now: Date) throws
        -> ReconcileResult
    {
        let generation = object.generation
        guard let ledger else {
            return ReconcileResult(status: ClaimStatus.pending(
                reason: "MeshUnavailable", message: "a claim on node \(reference.prefix(12)) is placed through the mesh ledger, which "
                    + "the agent of a mesh member reaches (hypermesh mesh join, then hypermesh agent)", generation: generation),
                requeueAfter: .seconds(30))
        }
        let committed = ledger.committed()
        // spec.node names the provider by node id or by the name its heartbeats give it on the ledger.
        guard let provider = Self.isNodeID(reference) ? reference : committed.mesh.node(named: reference) else {
            return ReconcileResult(status: ClaimStatus.pending(reason: "NodeNotFound", message: "no node named \(reference) on the mesh "
                + "ledger (height \(committed.height)); `hypermesh get nodes` lists the members", generation: generation),
                requeueAfter: .seconds(2))
        }
        if provider == ledger.nodeID {
            return ReconcileResult(status: ClaimStatus.failed(reason: "OwnNode", message: "spec.node is this node: leave it out to claim "
                + "from this node's pools", generation: generation))
        }
        let previous = object.status?.fields ?? [:]
        let key = MeshLedger.PlacementKey(consumer: ledger.nodeID, claim: object.key.name)
        let desired = PlacementTerms(provider: provider, pool: request.pool, amounts: LedgerAmounts(request.amounts),
                                     leaseMilliseconds: request.duration?.milliseconds ?? 0)
        let submission = LedgerSubmission(json: previous["placement"])
        var fields: [String: JSONValue] = ["phase": "Pending", "provider": .string(provider), "providerPool": .string(request.pool),
                                           "providerStatus": .string(committed.mesh.isLost(provider) ? "Lost" : "Ready")]
        fields["placement"] = submission?.json

        if let placement = committed.mesh.placements[key] {
            fields["placedAtHeight"] = .integer(Int64(placement.height))
            fields["placedGeneration"] = previous["placedGeneration"] ?? .integer(generation)
            guard placement.terms == desired else {
                // The spec changed: end the old placement, then place the new one.
                if submission.map({ $0.isDue(now: now) }) ?? true || previous["ending"] == nil {
                    let digest = try ledger.submit(.end, subject: object.key.name, terms: .none)
                    fields["placement"] = LedgerSubmission(operation: digest, at: now).json
                }
                fields["ending"] = true
                return ReconcileResult(status: self.placedStatus(ClaimStatus.pending(reason: "Replacing",
                    message: "the spec changed; the earlier placement on node \(provider.prefix(12)) ends first", generation: generation),
                    fields), requeueAfter: .seconds(1))
            }
            switch placement.state {
            case .placed:
                return ReconcileResult(status: self.placedStatus(ClaimStatus.pending(reason: "AwaitingProvider",
                    message: "placed on pool \(request.pool) of node \(provider.prefix(12)) at height \(placement.height); "
                        + "waiting for the provider to enforce it", generation: generation), fields), requeueAfter: TimeSpan(milliseconds: 500))
            case .enforced:
                fields["phase"] = "Bound"
                fields["allocation"] = request.amounts.json
                fields["enforcedAtHeight"] = placement.enforcedHeight.map { .integer(Int64($0)) }
                fields["boundAt"] = previous["phase"] == "Bound" ? previous["boundAt"] : .string(Timestamp.format(now))
                fields["allocatedGeneration"] = .integer(generation)
                fields["leaseExpiresAt"] = placement.expiresAtMilliseconds.map { .string(Timestamp.format(millisecondsSince1970: $0)) }
                var status = ObjectStatus.ready(.true, reason: "Bound", message: "enforced by node \(provider.prefix(12)) on its pool "
                    + "\(request.pool)", generation: generation, fields: fields)
                if !placement.enforcementNote.isEmpty {
                    status.setCondition(Condition(type: Condition.degraded, status: .true, reason: "ProviderDegraded",
                                                  message: "node \(provider.prefix(12)) holds the claim but does not enforce all of it: "
                                                      + placement.enforcementNote, observedGeneration: generation))
                }
                if committed.mesh.isLost(provider) {
                    // The allocation stays: only its consumer, its lease or its provider's owner ends it.
                    status.setCondition(Condition(type: Condition.degraded, status: .true, reason: "ProviderLost",
                                                  message: "node \(provider.prefix(12)) has been silent on the mesh ledger; the claim "
                                                      + "stays placed and its capacity is offered to nobody else", observedGeneration: generation))
                }
                return ReconcileResult(status: status, requeueAfter: .seconds(2))
            }
        }
        // Not placed (any more). Was it, and why did it end?
        if previous["placedGeneration"] == .integer(generation), let reason = committed.mesh.ended[key] {
            let (short, message) = Self.endReason(reason, provider: provider)
            if reason == "LeaseExpired" {
                if previous["phase"] != "Released" { context.events.record(object.key, .normal, reason: short, message: message) }
                return ReconcileResult(status: ClaimStatus.released(fields.merging(previous.filter { $0.key != "phase" }) { placed, _ in placed },
                                                                    reason: "LeaseExpired", generation: generation))
            }
            if previous["phase"] != "Failed" { context.events.record(object.key, .warning, reason: short, message: message) }
            fields["phase"] = "Failed"
            return ReconcileResult(status: self.placedStatus(ClaimStatus.failed(reason: short, message: message, generation: generation), fields))
        }
        if let submission, let reason = submission.refusal(in: committed) {
            fields["phase"] = "Failed"
            return ReconcileResult(status: self.placedStatus(ClaimStatus.failed(reason: "LedgerRefused", message: "the mesh ledger refused the claim: "
                + reason, generation: generation), fields), requeueAfter: .minutes(1))
        }
        guard committed.mesh.offers[MeshLedger.OfferKey(node: provider, pool: request.pool)] != nil else {
            return ReconcileResult(status: self.placedStatus(ClaimStatus.pending(reason: "OfferNotFound", message: "node \(provider.prefix(12)) "
                + "offers no pool \(request.pool) on the mesh ledger (height \(committed.height))", generation: generation), fields),
                requeueAfter: .seconds(2))
        }
        if let submission, previous["ending"] == nil, !submission.isDue(now: now) {
            return ReconcileResult(status: self.placedStatus(ClaimStatus.pending(reason: "Placing", message: "handed to the validators; waiting "
                + "for the ledger to commit it", generation: generation), fields), requeueAfter: TimeSpan(milliseconds: 300))
        }
        let digest = try ledger.submit(.place, subject: object.key.name, terms: .placement(desired))
        fields["placement"] = LedgerSubmission(operation: digest, at: now).json
        fields["placedGeneration"] = .integer(generation)
        return ReconcileResult(status: self.placedStatus(ClaimStatus.pending(reason: "Placing", message: "handed to the validators; waiting for "
            + "the ledger to commit it", generation: generation), fields), requeueAfter: TimeSpan(milliseconds: 300))
    }

    /// Whether `text` is a node id rather than a node's name.
    static func isNodeID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// The Pending or Failed status `base` with the placement's fields.
    private func placedStatus(_ base: ObjectStatus, _ fields: [String: JSONValue]) -> ObjectStatus {
        var status = base
        for (name, value) in fields where name != "phase" { status.fields[name] = value }
        return status
    }

    static func endReason(_ reason: String, provider: String) -> (String, String) {
        if reason.hasPrefix("ProviderFailed: ") {
            return ("ProviderFailed", "node \(provider.prefix(12)) could not enforce the claim: \(reason.dropFirst("ProviderFailed: ".count))")
        }
        if reason == "LeaseExpired" { return ("LeaseExpired", "the lease ended by ledger time; node \(provider.prefix(12)) freed the claim") }
        if reason == "OfferWithdrawn" { return ("OfferWithdrawn", "node \(provider.prefix(12)) withdrew the pool's offer") }
        if reason == "ProviderRemoved" { return ("ProviderRemoved", "node \(provider.prefix(12)) was removed from the mesh") }
        if reason.hasPrefix("Evicted: ") {
            return ("Evicted", "node \(provider.prefix(12)) evicted the claim: \(reason.dropFirst("Evicted: ".count))")
        }
        return (reason, "the placement ended (\(reason))")
    }

    /// Before a placed claim goes: its placement ends on the ledger (the provider then frees it); the deletion
    /// waits until that is committed.
    func endPlacement(_ object: StoredObject) throws {
        guard let ledger else { return }
        let key = MeshLedger.PlacementKey(consumer: ledger.nodeID, claim: object.key.name)
        guard ledger.committed().mesh.placements[key] != nil else { return }
        try ledger.submit(.end, subject: object.key.name, terms: .none)
        throw CleanupWaiting("claim \(object.key.name) waits for the mesh ledger to commit the end of its placement", waitingFor: [])
    }
}
