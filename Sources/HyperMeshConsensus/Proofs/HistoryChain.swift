import Crypto
import Foundation

/// PoTime (when): a proof-of-history chain — tick i+1 = SHA-256(tick i), computed sequentially by each
/// validator. An operation names a recent (tick index, hash); since no one can compute tick i without
/// the i−1 before it, the operation was made after that tick. Checkpoints every `checkpointInterval`
/// ticks let a verifier check a segment in parallel, one checkpoint span per core.
public struct HistoryChain: Sendable {
    public let seed: ConsensusHash
    public let checkpointInterval: Int
    /// The hash at every multiple of `checkpointInterval`, starting with the seed at 0.
    public private(set) var checkpoints: [ConsensusHash]
    public private(set) var tick: UInt64 = 0
    public private(set) var head: ConsensusHash

    public init(seed: ConsensusHash, checkpointInterval: Int = 1000) {
        precondition(checkpointInterval > 0)
        self.seed = seed
        self.checkpointInterval = checkpointInterval
        self.checkpoints = [seed]
        self.head = seed
    }

    /// Advances by `count` sequential hashes.
    public mutating func advance(by count: Int) {
        for _ in 0..<count {
            self.head = ConsensusHash(bytes: Array(SHA256.hash(data: self.head.bytes)))
            self.tick += 1
            if self.tick % UInt64(self.checkpointInterval) == 0 { self.checkpoints.append(self.head) }
        }
    }

    /// The hash at `tick` (recomputed from the nearest checkpoint), if the chain has reached it.
    public func hash(at tick: UInt64) -> ConsensusHash? {
        guard tick <= self.tick else { return nil }
        let checkpoint = Int(tick / UInt64(self.checkpointInterval))
        var hash = self.checkpoints[checkpoint]
        for _ in 0..<(tick % UInt64(self.checkpointInterval)) { hash = ConsensusHash(bytes: Array(SHA256.hash(data: hash.bytes))) }
        return hash
    }

    /// Checks that `checkpoints` follow from `seed`, each span verified independently (concurrently).
    public static func verify(seed: ConsensusHash, checkpoints: [ConsensusHash], interval: Int) -> ProofVerdict {
        guard checkpoints.first == seed else { return .refused("time: the chain does not start at its seed") }
        let spans = checkpoints.count - 1
        guard spans > 0 else { return .accepted }
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: spans) { index in
            var hash = checkpoints[index]
            for _ in 0..<interval { hash = ConsensusHash(bytes: Array(SHA256.hash(data: hash.bytes))) }
            if hash != checkpoints[index + 1] { failures.record(index) }
        }
        if let first = failures.first {
            return .refused("time: checkpoint \(first + 1) does not follow from checkpoint \(first)")
        }
        return .accepted
    }

    /// Whether an operation's claimed (tick, hash) is on this chain, not in its future, and recent enough.
    public func verifyReference(tick: UInt64, hash: ConsensusHash, maximumAge: UInt64) -> ProofVerdict {
        guard tick <= self.tick else { return .refused("time: tick \(tick) is in the future (chain at \(self.tick))") }
        guard self.tick - tick <= maximumAge else {
            return .refused("time: tick \(tick) is older than \(maximumAge) ticks (chain at \(self.tick))")
        }
        guard self.hash(at: tick) == hash else { return .refused("time: the hash named for tick \(tick) is not on the chain") }
        return .accepted
    }
}

/// The lowest failing index found by concurrent workers.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var lowest: Int?
    func record(_ index: Int) { self.lock.withLock { self.lowest = min(self.lowest ?? index, index) } }
    var first: Int? { self.lock.withLock { self.lowest } }
}
