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
                    self.commit(bottom, now: now)
                    self.commitQC = child?.justify ?? qc
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
        for committedBlock in chain {
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
        }
        if self.mempoolOrder.count > 64 && self.mempoolOrder.count > 2 * self.mempool.count {
            self.mempoolOrder.removeAll { self.mempool[$0] == nil }
        }
        return chain
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
            guard let current = cursor, current.height > 0 else { return false }
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
