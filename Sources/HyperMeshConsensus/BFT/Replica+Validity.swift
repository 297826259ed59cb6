import Foundation
import HyperMeshCore

/// Which operations and blocks a validator accepts: the proofs the mesh demands, and certificates.
extension Replica {
    // MARK: - Validity

    /// The proofs one operation must carry (stake is checked again, against the ledger, when applied).
    func check(_ operation: Operation) -> ProofVerdict {
        if case .refused(let reason) = self.checkAllButTime(operation) { return .refused(reason) }
        return self.checkTime(operation)
    }

    /// Work, stake and space: what cannot change while an operation waits.
    func checkAllButTime(_ operation: Operation) -> ProofVerdict {
        let required = self.configuration.requirements
        if required.work, case .refused(let reason) = operation.work.verify(digest: operation.digest,
                                                                            bits: self.configuration.workBits) {
            return .refused(reason)
        }
        if !operation.node.isEmpty {
            // A member node's operation is always signed, by the key its node id is the hash of.
            if !NodeKeySigner.verify(operation.signature, of: operation.digest.bytes, byNode: operation.node) {
                return .refused("the signature is not node \(operation.node.prefix(12))'s")
            }
        } else if operation.kind.isMeshOperation {
            return .refused("a \(operation.kind.rawValue) operation names no node")
        } else if operation.kind == .reconfigure && !self.configuration.signer.verify(operation.signature, of: operation.digest.bytes,
                                                                                      by: operation.proposer) {
            return .refused("reconfigure: only a validator changes the validators, and the signature is not validator \(operation.proposer)'s")
        } else if operation.kind == .expel && !self.configuration.signer.verify(operation.signature, of: operation.digest.bytes,
                                                                                by: operation.proposer) {
            return .refused("expel: only a validator removes a node, and the signature is not validator \(operation.proposer)'s")
        } else if required.stake && !self.configuration.signer.verify(operation.signature, of: operation.digest.bytes,
                                                                      by: operation.proposer) {
            return .refused("stake: the signature is not the proposer's")
        }
        if required.space && (operation.kind == .offerPool || operation.kind == .offer),
           case .refused(let reason) = self.checkSpace(operation) {
            return .refused(reason)
        }
        return .accepted
    }

    /// PoSpace for an offered pool: the proposer's own plot, big enough, challenged by a block this
    /// validator committed, answered within the deadline, with a valid binding to its address.
    func checkSpace(_ operation: Operation) -> ProofVerdict {
        guard let proof = operation.space else { return .refused("space: an offered pool needs a proof of space") }
        let settings = self.configuration.space
        let verdict = proof.binding.verify(now: Date(timeIntervalSince1970: Double(self.clock) / 1000),
                                           maximumAgeMilliseconds: settings.bindingMaximumAgeMilliseconds,
                                           maximumDriftMilliseconds: self.configuration.requirements.maximumClockDriftMilliseconds)
        if case .refused = verdict { return verdict }
        guard proof.commitment.nodeID.hexString == proof.binding.nodeID else {
            return .refused("space: the plot belongs to another node than the address binding")
        }
        if operation.kind == .offer, operation.node != proof.binding.nodeID {
            return .refused("space: the plot is not the offering node's (node \(operation.node.prefix(12))…)")
        }
        if operation.kind == .offerPool, let proposer = self.configuration.signer.nodeID(of: operation.proposer), proposer != proof.binding.nodeID {
            return .refused("space: the plot is not the proposer's (node \(proposer.prefix(12))…)")
        }
        guard proof.commitment.leafCount >= settings.minimumLeaves, proof.commitment.rounds >= settings.minimumRounds else {
            return .refused("space: a plot of \(proof.commitment.leafCount) leaves × \(proof.commitment.rounds) rounds is below the "
                + "\(settings.minimumLeaves) × \(settings.minimumRounds) required")
        }
        let height = proof.challengeHeight
        let onChain = height == 0 ? proof.challengeBlock == Block.genesis.hash
            : height <= self.committedHeight && self.committed[Int(height) - 1].hash == proof.challengeBlock
        guard onChain else { return .refused("space: the challenge block \(proof.challengeBlock) at height \(height) is not on this validator's chain") }
        let committedAt = height == 0 ? self.historyOrigin : self.commitTimes[Int(height) - 1]
        let elapsed = Duration.milliseconds(Int64(self.clock &- committedAt))
        return SpacePlot.verify(proof.openings, commitment: proof.commitment, challenge: proof.challengeBlock,
                                count: settings.challenges, answeredAfter: elapsed,
                                deadline: .milliseconds(Int64(settings.deadlineMilliseconds)))
    }

    /// PoTime: the timestamp within the drift bound, and a recent tick of a validator's history named.
    func checkTime(_ operation: Operation) -> ProofVerdict {
        let required = self.configuration.requirements
        if required.time {
            let drift = Int64(self.clock) - operation.timestampMilliseconds
            if abs(drift) > required.maximumClockDriftMilliseconds {
                return .refused("time: timestamp \(operation.timestampMilliseconds) is \(drift) ms from this validator's clock")
            }
            guard let reference = operation.time else { return .refused("time: the operation names no history tick") }
            guard let chain = reference.validator == self.id ? self.history : self.peerHistories[reference.validator] else {
                return .refused("time: no history of validator \(reference.validator) received yet")
            }
            if case .refused(let reason) = chain.verifyReference(tick: reference.tick, hash: reference.hash,
                                                                 maximumAge: self.configuration.history.maximumAgeTicks) {
                return .refused("\(reason) (validator \(reference.validator)'s)")
            }
        }
        return .accepted
    }

    /// A QC's signatures, checked once: the same certificate arrives in proposals, new-views and catch-up.
    func isValid(_ qc: QuorumCertificate) -> Bool {
        if self.verifiedCertificates.contains(qc) { return true }
        guard qc.isValid(quorum: self.configuration.effectiveQuorum, validators: self.configuration.validators,
                         signer: self.configuration.signer, genesis: self.genesis.hash, genesisHeight: self.genesis.height)
        else { return false }
        if self.verifiedCertificates.count >= 4096 { self.verifiedCertificates.removeAll(keepingCapacity: true) }
        self.verifiedCertificates.insert(qc)
        return true
    }

    func checkOperations(of block: Block) -> ProofVerdict {
        var seen = Set<ConsensusHash>()
        for operation in block.operations {
            let digest = operation.digest
            // An operation this validator checked when it was submitted need not be checked again, if the
            // block carries it with the same proofs (the digest does not cover them).
            let known = self.mempool[digest].map { $0.signature == operation.signature && $0.work == operation.work } ?? false
            if !known, case .refused(let reason) = self.check(operation) { return .refused("operation \(operation): \(reason)") }
            if self.committedOperations.contains(digest) || !seen.insert(digest).inserted {
                return .refused("operation \(operation) is already ordered")
            }
        }
        return .accepted
    }

    func refuse(_ reason: String) {
        if self.refusals.count == 1000 { self.refusals.removeFirst() }
        self.refusals.append(reason)
        self.refusalCount += 1
    }
}
