import Crypto
import Foundation

/// PoTime (when): a proof-of-history chain — tick i+1 = SHA-256(tick i), computed sequentially by each
/// validator. An operation names a recent (tick index, hash); since no one can compute tick i without the
/// i−1 before it, and each checkpoint span starts by mixing in a value that did not exist before (the
/// validator's latest committed block hash), the operation was made after that tick.
///
/// Checkpoints every `checkpointInterval` ticks let a verifier check a segment in parallel, one span per
/// core: span k starts at checkpoint k, hashes in `mixes[k]` (when not zero), and must end at checkpoint
/// k+1. Other validators hold a window of each validator's checkpoints (``extend(from:checkpoints:mixes:)``),
/// verified span by span as they arrive.
public struct HistoryChain: Sendable {
    public let seed: ConsensusHash
    public let checkpointInterval: Int
    /// Index of the first checkpoint held (older ones are dropped by ``trim(keeping:)``).
    public private(set) var firstCheckpoint: UInt64 = 0
    /// The hash at every multiple of `checkpointInterval` from ``firstCheckpoint`` on.
    public private(set) var checkpoints: [ConsensusHash]
    /// What each span (from the checkpoint of the same position) mixed in at its start; `.zero`: nothing.
    public private(set) var mixes: [ConsensusHash] = []
    public private(set) var tick: UInt64 = 0
    public private(set) var head: ConsensusHash
    /// Mixed into the next span when it starts (e.g. the latest committed block hash).
    public var nextMix = ConsensusHash.zero

    public init(seed: ConsensusHash, checkpointInterval: Int = 1000) {
        precondition(checkpointInterval > 0)
        self.seed = seed
        self.checkpointInterval = checkpointInterval
        self.checkpoints = [seed]
        self.head = seed
    }

    static func step(_ hash: ConsensusHash) -> ConsensusHash { ConsensusHash(bytes: Array(SHA256.hash(data: hash.bytes))) }

    /// The first tick of a span: the checkpoint with the span's mix hashed in.
    static func spanStart(_ checkpoint: ConsensusHash, mix: ConsensusHash) -> ConsensusHash {
        mix == .zero ? Self.step(checkpoint) : ConsensusHash.of(checkpoint.bytes + mix.bytes)
    }

    /// Advances by `count` sequential hashes.
    public mutating func advance(by count: Int) {
        let interval = UInt64(self.checkpointInterval)
        for _ in 0..<count {
            if self.tick % interval == 0 {
                self.mixes.append(self.nextMix)
                self.head = Self.spanStart(self.head, mix: self.nextMix)
            } else {
                self.head = Self.step(self.head)
            }
            self.tick += 1
            if self.tick % interval == 0 { self.checkpoints.append(self.head) }
        }
    }

    /// The tick of the newest checkpoint: what the chain can prove to others.
    public var checkpointTick: UInt64 { (self.firstCheckpoint + UInt64(self.checkpoints.count) - 1) * UInt64(self.checkpointInterval) }

    /// The hash at `tick` (recomputed from the nearest checkpoint), if the chain has reached it and still
    /// holds its checkpoint.
    public func hash(at tick: UInt64) -> ConsensusHash? {
        guard tick <= self.tick else { return nil }
        let interval = UInt64(self.checkpointInterval)
        guard tick / interval >= self.firstCheckpoint else { return nil }
        let position = Int(tick / interval - self.firstCheckpoint)
        var hash = self.checkpoints[position]
        let remainder = tick % interval
        guard remainder > 0 else { return hash }
        hash = Self.spanStart(hash, mix: self.mixes[position])
        for _ in 1..<remainder { hash = Self.step(hash) }
        return hash
    }

    /// Checks that `checkpoints` follow from `seed`, each span (with its mix) verified independently and
    /// concurrently. Without `mixes`, nothing was mixed in.
    public static func verify(seed: ConsensusHash, checkpoints: [ConsensusHash], mixes: [ConsensusHash] = [], interval: Int)
        -> ProofVerdict
    {
        guard checkpoints.first == seed else { return .refused("time: the chain does not start at its seed") }
        let spans = checkpoints.count - 1
        guard spans > 0 else { return .accepted }
        guard mixes.isEmpty || mixes.count >= spans else { return .refused("time: \(spans) spans but \(mixes.count) mixes") }
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: spans) { index in
            var hash = Self.spanStart(checkpoints[index], mix: mixes.isEmpty ? .zero : mixes[index])
            for _ in 1..<interval { hash = Self.step(hash) }
            if hash != checkpoints[index + 1] { failures.record(index) }
        }
        if let first = failures.first {
            return .refused("time: checkpoint \(first + 1) does not follow from checkpoint \(first)")
        }
        return .accepted
    }

    /// Another validator's checkpoints `first`, `first`+1, … with the mixes of the spans between them, as
    /// its `history` message carries them. Spans new to this copy are verified (in parallel); checkpoints
    /// already held must be equal. A window that does not overlap what is held replaces it (a validator
    /// that was cut off, or restarted its chain, starts again from the window's first checkpoint).
    public mutating func extend(from first: UInt64, checkpoints: [ConsensusHash], mixes: [ConsensusHash]) -> ProofVerdict {
        guard !checkpoints.isEmpty, mixes.count == checkpoints.count - 1 else {
            return .refused("time: a history window needs n checkpoints and n − 1 mixes")
        }
        let held = self.firstCheckpoint..<(self.firstCheckpoint + UInt64(self.checkpoints.count))
        let overlaps = held.contains(first) && self.checkpoints[Int(first - self.firstCheckpoint)] == checkpoints[0]
        let startOffset = overlaps ? Int(first - self.firstCheckpoint) : 0
        // Verify only the spans this copy does not hold yet.
        let alreadyHeld = overlaps ? min(self.checkpoints.count - 1 - startOffset, checkpoints.count - 1) : 0
        for index in 0..<alreadyHeld where self.checkpoints[startOffset + index + 1] != checkpoints[index + 1] {
            return .refused("time: checkpoint \(first + UInt64(index) + 1) differs from the one received before")
        }
        let newPart = Array(checkpoints[alreadyHeld...])
        let verdict = Self.verify(seed: newPart[0], checkpoints: newPart, mixes: Array(mixes[alreadyHeld...]),
                                  interval: self.checkpointInterval)
        if case .refused(let reason) = verdict {
            let offset = first + UInt64(alreadyHeld)
            return .refused(reason.replacingOccurrences(of: "checkpoint \\d+ does not follow from checkpoint \\d+",
                                                        with: "a checkpoint after \(offset) does not follow", options: .regularExpression))
        }
        if overlaps {
            // Held spans keep their verified mixes; only what is new is appended.
            let heldEnd = startOffset + alreadyHeld
            guard heldEnd == self.checkpoints.count - 1, newPart.count > 1 else { return .accepted }
            self.mixes = Array(self.mixes.prefix(heldEnd))
        } else {
            self.firstCheckpoint = first
            self.checkpoints = [checkpoints[0]]
            self.mixes = []
        }
        self.checkpoints += newPart.dropFirst()
        self.mixes += mixes[alreadyHeld...]
        self.tick = self.checkpointTick
        self.head = self.checkpoints.last!
        return .accepted
    }

    /// Drops all but the newest `count` checkpoints (references older than those are stale anyway).
    public mutating func trim(keeping count: Int) {
        let excess = self.checkpoints.count - max(count, 1)
        guard excess > 0 else { return }
        self.checkpoints.removeFirst(excess)
        self.mixes.removeFirst(min(excess, self.mixes.count))
        self.firstCheckpoint += UInt64(excess)
    }

    /// The newest `count` checkpoints with the mixes between them, for a `history` message.
    public func window(_ count: Int) -> (first: UInt64, checkpoints: [ConsensusHash], mixes: [ConsensusHash]) {
        let taken = min(count, self.checkpoints.count)
        let start = self.checkpoints.count - taken
        return (self.firstCheckpoint + UInt64(start), Array(self.checkpoints[start...]), Array(self.mixes[start..<(start + taken - 1)]))
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
