import Foundation
import HyperMeshCore

/// Spare groups: a released claim's group is renamed to one of its pool's spare slots
/// (`.spare-0` … `.spare-3`) instead of removed, and the next claim of the pool renames a spare
/// into place instead of making a group. On cgroup v1 a `rename` costs ~7 µs per controller
/// where `mkdir`+`rmdir` cost 30–90 µs, and fixed slot names need no directory listing
/// (measured in `Benchmarks/AssetBenchmarks`).
extension ControlGroup {
    /// Spare slots per pool and controller set.
    public static let maximumSpares = 4
    static let sparePrefix = ".spare-"

    /// Makes the group with `limits`, adopting one of the pool's spares when there is one.
    /// Returns whether a spare was adopted.
    @discardableResult
    public func createAdoptingSpare(limits: ResourceLimits) throws -> Bool {
        let name = self.components.last!
        for slot in 0..<Self.maximumSpares where self.renameAll(from: Self.sparePrefix + String(slot), to: name) {
            try self.writeLimits(limits, adopted: true)
            return true
        }
        try self.create(limits: limits)
        return false
    }

    /// Releases the group, which must hold no process: it becomes a spare of its pool, or is
    /// removed when every spare slot is taken. Its counters carry over; whoever adopts it reads a
    /// baseline first (the kernel cannot reset `oom_kill` anyway). A group that had a process
    /// limit is removed, so every spare's `pids.max` is `max` and adoption need not write it.
    public func retire(hadProcessLimit: Bool = false) throws {
        if hadProcessLimit {
            try self.remove()
            return
        }
        let name = self.components.last!
        for slot in 0..<Self.maximumSpares where self.renameAll(from: name, to: Self.sparePrefix + String(slot)) {
            return
        }
        try self.remove()
    }

    /// Renames `from` to `to` under the pool in every controller directory, all or none.
    private func renameAll(from: String, to: String) -> Bool {
        var done: [String] = []
        for parent in self.parentDirectories {
            if rename(parent + "/" + from, parent + "/" + to) != 0 {
                for undone in done { rename(undone + "/" + to, undone + "/" + from) }
                return false
            }
            done.append(parent)
        }
        return !done.isEmpty
    }
}
