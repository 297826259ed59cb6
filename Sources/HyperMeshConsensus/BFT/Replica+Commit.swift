import HyperMeshCore

/// HotStuff's update rule: adopt higher QCs, lock, commit three-chains, apply committed operations.
extension Replica {
    // MARK: - Certificates, locks, commits

    /// update(b*) of the paper, for the block `qc` certifies (b''): adopt a higher QC, lock b', commit b.
    func processCertificate(_ qc: QuorumCertificate, now: UInt64) -> [Outgoing] {
        guard let certified = self.blocks[qc.block] else { return [] }
        if qc.view > self.highQC.view { self.highQC = qc }
        guard let parent = self.blocks[certified.justify.block], self.blocks[parent.justify.block] != nil else {
            return []
        }
        if parent.view > self.locked.view { self.locked = parent }
        if self.configuration.brokenRule == .oneChainCommit {
            if certified.height > self.committedHeight { self.commit(certified, now: now) }
            return []
        }
        // A three-chain of direct parents in consecutive views commits its head (the paper's consecutive
        // heights, where every view has a block). Every block below a certified one is certified by its
        // child's justification, so look down the whole uncommitted chain: a QC processed before its
        // ancestors arrived is not lost.
        var cursor: Block? = certified
        var child: Block?
        while let top = cursor, top.height > self.committedHeight + 2 {
            guard let middle = self.blocks[top.parent], let bottom = self.blocks[middle.parent] else { break }
            if top.view == middle.view + 1 && middle.view == bottom.view + 1 {
                if bottom.height > self.committedHeight {
                    // Set first: if the commit ends the epoch, this certificate is the top of its proof.
                    self.commitQC = child?.justify ?? qc
                    self.commit(bottom, now: now)
                }
                break
            }
            child = top
            cursor = middle
        }
        return []
    }

    func commit(_ block: Block, now: UInt64) {
        let newlyCommitted = self.apply(committing: block)
        if self.storage != nil { self.unsaved.committed += newlyCommitted }
        self.progress(now: now)
    }

    /// Appends `block` and its uncommitted ancestors to the committed chain and applies their operations;
    /// returns them, oldest first.
    @discardableResult
    func apply(committing block: Block) -> [Block] {
        var chain: [Block] = []
        var cursor: Block? = block
        while let current = cursor, current.height > self.committedHeight {
            chain.append(current)
            cursor = self.blocks[current.parent]
        }
        chain.reverse()
        var appended: [Block] = []
        var endedEpoch = false
        for committedBlock in chain {
            if endedEpoch {
                // Above the block that ended an epoch, only the next epoch's blocks (built on it as their base)
                // are committed: the old validators' blocks above it never are.
                guard committedBlock.parent == self.genesis.hash, committedBlock.justify.block == self.genesis.hash,
                      committedBlock.justify.signatures.isEmpty else { break }
                endedEpoch = false
            }
            appended.append(committedBlock)
            self.committed.append(committedBlock)
            self.commitTimes.append(self.clock)
            for operation in committedBlock.operations {
                let digest = operation.digest
                guard !self.committedOperations.contains(digest) else { continue }
                self.committedOperations.insert(digest)
                self.ledger.apply(operation, minimumStake: self.configuration.requirements.minimumStake,
                                  height: committedBlock.height)
                // `mempoolOrder` keeps the digest until the next compaction; lookups skip what is gone.
                self.mempool.removeValue(forKey: digest)
            }
            if let next = self.ledger.validators, next.number > self.epoch {
                self.beginEpoch(next, after: committedBlock)
                endedEpoch = true
            }
        }
        if self.mempoolOrder.count > 64 && self.mempoolOrder.count > 2 * self.mempool.count {
            self.mempoolOrder.removeAll { self.mempool[$0] == nil }
        }
        return appended
    }

    /// Starts epoch `next` on `base`, the block that ended the current one: the new validators, quorum and
    /// signer; safety state that starts over on the base (votes of the new epoch name its base, so none of the
    /// old epoch counts in it); the old epoch's uncommitted blocks dropped. Live (not while a restarted replica
    /// replays its chain), the proof that `base` is committed is kept first, for validators still in the old epoch.
    func beginEpoch(_ next: ValidatorEpoch, after base: Block) {
        if !self.replaying {
            if let proof = self.epochProof(ending: base) {
                self.epochProofs[self.epoch] = proof
                if self.storage != nil { self.unsaved.epochProofs.append(proof) }
            }
            self.blocks = self.blocks.filter { $0.value.height <= base.height }
            self.unsaved.blocks.removeAll { $0.height > base.height }
            self.unsaved.epochStarted = true
        }
        let previousMembers = self.members(ofEpoch: self.epoch) ?? []
        let previousID = self.id
        self.epoch = next.number
        self.genesis = base
        self.configuration.adopt(next)
        self.id = next.index(of: self.identity) ?? -1
        self.locked = base
        self.highQC = .base(base)
        self.commitQC = self.highQC
        self.votedView = base.view
        self.view = base.view + 1
        self.lastVoted = nil
        self.votes.removeAll()
        self.newViews.removeAll()
        self.proposedViews.removeAll()
        self.waitingForParent.removeAll()
        self.verifiedCertificates.removeAll()
        // History references name validators by their index in an epoch: the chains of validators that stay
        // move to their new index; references this validator published stand only if its own index stays.
        var histories: [Int: HistoryChain] = [:]
        for (index, chain) in self.peerHistories where previousMembers.indices.contains(index) {
            if let moved = next.index(of: previousMembers[index].nodeID) { histories[moved] = chain }
        }
        self.peerHistories = histories
        self.parked.removeAll()
        if self.id != previousID {
            self.previouslyPublished = nil
            self.latestPublished = nil
        }
        self.consecutiveTimeouts = 0
        self.lastProgressMilliseconds = self.clock
    }

    /// The blocks from `end`'s child up to the top of the three-chain that committed it, with that top's
    /// certificate; `nil` when they are not all held (not when committing live).
    func epochProof(ending end: Block) -> EpochProof? {
        var above: [Block] = []
        var cursor = self.blocks[self.commitQC.block]
        while let current = cursor, current.height > end.height {
            above.append(current)
            cursor = self.blocks[current.parent]
        }
        guard cursor?.hash == end.hash, above.count >= 2, above.count <= EpochProof.maximumBlocks else { return nil }
        return EpochProof(epoch: self.epoch, endHeight: end.height, blocks: above.reversed(), certificate: self.commitQC)
    }

    /// A validator of epoch `epoch`, which this replica has left, announced where it stands: if it has not
    /// committed the block that ended that epoch, send it the blocks up to it, the proof's blocks, and the
    /// proof's certificate — its own commit rule then commits the end of the epoch and moves it on. Only a
    /// validator of that epoch answers (the receiver counts what its own epoch's validators say).
    func helpLeave(epoch: UInt64, after message: ConsensusMessage) -> [Outgoing] {
        guard case .newView(_, _, let committed, let from) = message, let proof = self.epochProofs[epoch],
              committed < proof.endHeight, let members = self.members(ofEpoch: epoch), members.indices.contains(from),
              let own = members.firstIndex(where: { $0.nodeID == self.identity }), own != from,
              proof.endHeight <= self.committedHeight else { return [] }
        let missing = Array(self.committed[Int(committed)..<Int(proof.endHeight)])
        var out = Self.pages(of: missing + proof.blocks, to: from).map {
            Outgoing(destination: $0.destination, message: $0.message, epoch: epoch)
        }
        out.append(Outgoing(destination: .one(from), message: .newView(view: proof.certificate.view + 1, highQC: proof.certificate,
                                                                        committed: proof.endHeight, from: own), epoch: epoch))
        return out
    }

    func progress(now: UInt64) {
        self.consecutiveTimeouts = 0
        self.lastProgressMilliseconds = now
    }

    func extends(_ block: Block, _ ancestor: Block) -> Bool {
        var cursor: Block? = block
        while let current = cursor, current.height >= ancestor.height {
            if current.hash == ancestor.hash { return true }
            cursor = self.blocks[current.parent]
        }
        return false
    }

    var uncommittedBlocksCarryOperations: Bool { self.chainCarriesOperations(from: self.highQC.block) }

    /// Whether `tip` or one of its ancestors above the committed height carries operations.
    func chainCarriesOperations(from tip: ConsensusHash?) -> Bool {
        var cursor = tip.flatMap { self.blocks[$0] }
        while let current = cursor, current.height > self.committedHeight {
            if !current.operations.isEmpty { return true }
            cursor = self.blocks[current.parent]
        }
        return false
    }

    /// Whether the highest QC, which only this leader may hold yet, is what commits a block with operations
    /// for the others: then one more (empty) block must carry it to them, or they wait for a timeout.
    var othersMayNotHaveCommitted: Bool {
        var cursor = self.blocks[self.highQC.block]
        for _ in 0..<3 {
            guard let current = cursor, current.height > self.genesis.height else { return false }
            if !current.operations.isEmpty { return true }
            cursor = self.blocks[current.parent]
        }
        return false
    }

    /// Mempool operations not already in the uncommitted chain ending at `tip`, in arrival order.
    func operationsToPropose(extending tip: ConsensusHash) -> [Operation] {
        var inChain = Set<ConsensusHash>()
        var cursor = self.blocks[tip]
        while let current = cursor, current.height > self.committedHeight {
            for operation in current.operations { inChain.insert(operation.digest) }
            cursor = self.blocks[current.parent]
        }
        var result: [Operation] = []
        var expired: [ConsensusHash] = []
        for digest in self.mempoolOrder where !inChain.contains(digest) {
            guard let operation = self.mempool[digest] else { continue }
            // Only the time proof can go bad while an operation waits: drop the stale ones.
            if case .refused(let reason) = self.checkTime(operation) {
                self.refuse("operation \(operation) dropped: \(reason)")
                expired.append(digest)
                continue
            }
            result.append(operation)
            if result.count == self.configuration.maximumBatch { break }
        }
        for digest in expired { self.mempool.removeValue(forKey: digest) }
        return result
    }
}
