import Foundation
import HyperMeshCore

/// Blocks for validators that are behind, and blocks that arrive before their parents.
extension Replica {
    // MARK: - Catching up

    func store(_ block: Block) {
        self.blocks[block.hash] = block
        if self.storage != nil { self.unsaved.blocks.append(block) }
    }

    func releaseWaiting(on hash: ConsensusHash, now: UInt64) -> [Outgoing] {
        guard let children = self.waitingForParent.removeValue(forKey: hash) else { return [] }
        return children.flatMap { self.onProposal($0, now: now) }
    }

    func onFetch(_ hash: ConsensusHash, above: UInt64, from: Int) -> [Outgoing] {
        Self.pages(of: self.chain(endingAt: hash, above: above), to: from)
    }

    /// Blocks a validator catching up gets in one answer, at most: it asks again (its next new-view or fetch)
    /// for the rest, from the height it reached.
    static let maximumCatchUpBlocks = 1024
    /// Blocks per message.
    static let blocksPerMessage = 64

    /// The block `hash` and its ancestors above height `above`, oldest first: the lowest
    /// ``maximumCatchUpBlocks`` of them, so the receiver can attach every one to a parent it has.
    func chain(endingAt hash: ConsensusHash, above: UInt64) -> [Block] {
        var chain: [Block] = []
        var cursor = self.blocks[hash]
        while let current = cursor, current.height > above, current.height > 0 {
            chain.append(current)
            cursor = self.blocks[current.parent]
        }
        return Array(chain.reversed().prefix(Self.maximumCatchUpBlocks))
    }

    static func pages(of chain: [Block], to receiver: Int) -> [Outgoing] {
        stride(from: 0, to: chain.count, by: Self.blocksPerMessage).map { start in
            Outgoing(destination: .one(receiver),
                     message: .blocks(Array(chain[start..<min(start + Self.blocksPerMessage, chain.count)])))
        }
    }

    func onBlocks(_ list: [Block], now: UInt64) -> [Outgoing] {
        var out: [Outgoing] = []
        for block in list where self.blocks[block.hash] == nil {
            guard block.justify.block == block.parent, block.height == block.justify.height + 1,
                  self.isValid(block.justify) else { continue }
            guard self.blocks[block.parent] != nil else {
                // Pages of a long catch-up may arrive out of order: keep the block until its parent comes.
                if (self.waitingForParent[block.parent]?.count ?? 0) < 4 { self.waitingForParent[block.parent, default: []].append(block) }
                continue
            }
            self.store(block)
            out += self.processCertificate(block.justify, now: now)
            guard self.epoch == self.inputEpoch else { return out }
            out += self.releaseWaiting(on: block.hash, now: now)
        }
        // The highest QC may have arrived before the blocks it needs to lock and commit.
        out += self.processCertificate(self.highQC, now: now)
        return out
    }
}
