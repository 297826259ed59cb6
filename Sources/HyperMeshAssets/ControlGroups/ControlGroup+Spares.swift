import Foundation
import HyperMeshCore

/// Spare groups: a released claim's group is reset and renamed to `.spare-<id>` under its pool
/// instead of removed, and the next claim of the pool renames a spare into place instead of
/// making a group. On cgroup v1 a `rename` costs ~7 µs per controller where `mkdir`+`rmdir`
/// cost 30–90 µs (measured in `Benchmarks/AssetBenchmarks`).
extension ControlGroup {
    /// Spares kept per pool and controller set.
    public static let maximumSpares = 4
    static let sparePrefix = ".spare-"

    /// The pool's spare names that exist in every directory of this group's controllers.
    func spareNames() -> [String] {
        let parents = self.parentDirectories
        guard let first = parents.first, let stream = opendir(first) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            // Only directories whose name starts with ".spare-"; cgroup files are skipped without a String.
            guard entry.pointee.d_type == DT_DIR, entry.pointee.d_name.0 == 0x2E, entry.pointee.d_name.1 == 0x73 else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix(Self.sparePrefix), parents.dropFirst().allSatisfy({ access($0 + "/" + name, F_OK) == 0 }) {
                names.append(name)
            }
        }
        return names
    }

    /// Makes the group with `limits`, adopting one of the pool's spares when there is one.
    /// Returns whether a spare was adopted.
    @discardableResult
    public func createAdoptingSpare(limits: ResourceLimits) throws -> Bool {
        if !self.exists, let spare = self.spareNames().first, self.renameAll(from: spare, to: self.components.last!) {
            try self.create(limits: limits)
            return true
        }
        try self.create(limits: limits)
        return false
    }

    /// Releases the group: it must hold no process. Counters are reset and the group becomes a
    /// spare of its pool, or is removed when the pool has enough spares.
    public func retire() throws {
        guard self.exists else { return }
        guard self.processes().isEmpty else { throw HyperMeshError.conflict("\(self.directories.first ?? "") still holds processes") }
        if self.spareNames().count >= Self.maximumSpares {
            try self.remove()
            return
        }
        if case .v1(let mounts) = self.hierarchy {
            // A spare must not carry the last claim's accounting into the next one.
            let directory = { (controller: String) in self.controllers.contains(controller) ? mounts[controller].map { $0 + "/" + self.relativePath } : nil }
            if let cpuacct = directory("cpuacct") { try? Self.write("0", to: cpuacct + "/cpuacct.usage") }
            if let memory = directory("memory") {
                try? Self.write("0", to: memory + "/memory.max_usage_in_bytes")
            }
        }
        let spare = Self.sparePrefix + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        if !self.renameAll(from: self.components.last!, to: spare) { try self.remove() }
    }

    /// Renames `from` to `to` under the pool in every controller directory, all or none.
    private func renameAll(from: String, to: String) -> Bool {
        let parents = self.parentDirectories
        var done: [String] = []
        for parent in parents {
            if rename(parent + "/" + from, parent + "/" + to) != 0 {
                for undone in done { rename(undone + "/" + to, undone + "/" + from) }
                return false
            }
            done.append(parent)
        }
        return true
    }
}
