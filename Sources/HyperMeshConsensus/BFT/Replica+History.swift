import Foundation
import HyperMeshCore

/// PoWork admission, announcements and the history chain (PoTime).
extension Replica {
    /// The work new operations must carry now: the mesh's floor, plus one bit per doubling of the queue
    /// beyond ``ReplicaConfiguration/workAdmissionThreshold``. Leaders announce it in their blocks.
    public var admissionWorkBits: Int {
        let threshold = max(self.configuration.workAdmissionThreshold, 1)
        let load = self.mempool.count / threshold
        return min(64, self.configuration.workBits + (load == 0 ? 0 : Int.bitWidth - load.leadingZeroBitCount))
    }

    /// Tells every validator where this one stands (view, highest QC, committed height), so validators ahead
    /// send what it lacks, and publishes the newest checkpoints of its history chain: what a validator does
    /// when it starts and then periodically.
    public func announce(now: UInt64) -> [Outgoing] {
        self.clock = now
        self.inputEpoch = self.epoch
        guard self.behavior != .silent, self.storageFailure == nil, self.isMember else { return [] }
        self.advanceHistory(now: now)
        let window = self.history.window(self.configuration.history.window)
        let newest = TimeReference(validator: self.id, tick: self.history.checkpointTick, hash: window.checkpoints.last!)
        if newest != self.latestPublished {
            self.previouslyPublished = self.latestPublished ?? newest
            self.latestPublished = newest
        }
        return [Outgoing(destination: .all, message: .newView(view: self.view, highQC: self.highQC,
                                                               committed: self.committedHeight, from: self.id), epoch: self.epoch),
                Outgoing(destination: .all, message: .history(from: self.id, first: window.first,
                                                               checkpoints: window.checkpoints, mixes: window.mixes), epoch: self.epoch)]
    }

    /// What a client of this validator names in its operations' PoTime: a checkpoint published one
    /// announcement ago, so every validator has had time to receive it. `nil` before the first announcement.
    public var timeReferenceForClients: TimeReference? { self.previouslyPublished }

    static func historySeed(validator: Int, origin: UInt64) -> ConsensusHash {
        var encoder = CanonicalEncoder()
        encoder.append("hypermesh-history")
        encoder.append(validator)
        encoder.append(origin)
        return ConsensusHash.of(encoder.bytes)
    }

    /// Hashes the own chain forward to where `now` says it should be, mixing in the latest committed block
    /// at each span's start.
    func advanceHistory(now: UInt64) {
        let target = (now &- self.historyOrigin) * self.configuration.history.ticksPerSecond / 1000
        guard target > self.history.tick else { return }
        self.history.nextMix = self.committed.last?.hash ?? self.genesis.hash
        self.history.advance(by: Int(target - self.history.tick))
        self.history.trim(keeping: self.configuration.history.window)
    }

    func onHistory(from: Int, first: UInt64, checkpoints: [ConsensusHash], mixes: [ConsensusHash]) {
        guard from != self.id, (0..<self.configuration.validators).contains(from) else { return }
        var chain = self.peerHistories[from]
            ?? HistoryChain(seed: checkpoints.first ?? .zero, checkpointInterval: self.configuration.history.checkpointInterval)
        if case .refused(let reason) = chain.extend(from: first, checkpoints: checkpoints, mixes: mixes) {
            self.refuse("history of validator \(from): \(reason)")
            return
        }
        chain.trim(keeping: self.configuration.history.window)
        self.peerHistories[from] = chain
    }
}
