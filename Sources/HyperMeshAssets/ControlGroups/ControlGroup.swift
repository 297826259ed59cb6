import Foundation
import HyperMeshCore

/// One claim's cgroup, `hypermesh/<pool>/<claim>` under each controller (v1) or in the unified
/// tree (v2): creating it writes the limits, ``attach(pid:)`` moves a process in, ``usage()``
/// reads what it used, ``remove()`` deletes it.
public struct ControlGroup: Sendable, Hashable {
    public let hierarchy: CgroupHierarchy
    /// Path components below each controller root, e.g. `["hypermesh", "workstation", "batch"]`.
    public let components: [String]
    /// The v1 controllers this group lives in (v2 has one tree for all).
    public let controllers: [String]

    /// The v1 controllers a claim's group is made in.
    public static let v1Controllers = ["cpu", "cpuacct", "memory", "pids"]

    /// The group's directories, one per controller (v1) or one (v2); computed once.
    public let directories: [String]
    /// The directories the group's directories are in (the pool's).
    let parentDirectories: [String]

    public init(hierarchy: CgroupHierarchy, components: [String], controllers: [String] = ControlGroup.v1Controllers) {
        precondition(!components.isEmpty && components.allSatisfy { !$0.isEmpty && !$0.contains("/") && $0 != ".." })
        self.hierarchy = hierarchy
        self.components = components
        self.controllers = controllers
        let relative = components.joined(separator: "/")
        let parent = components.dropLast().joined(separator: "/")
        let roots: [String]
        switch hierarchy {
        case .v2(let root): roots = [root]
        case .v1(let mounts):
            var seen: Set<String> = []
            roots = controllers.compactMap { mounts[$0] }.filter { seen.insert($0).inserted }
        case .unavailable: roots = []
        }
        self.directories = roots.map { $0 + "/" + relative }
        self.parentDirectories = roots.map { parent.isEmpty ? $0 : $0 + "/" + parent }
    }

    /// The claim's group: `hypermesh/<pool>/<claim>`, in `controllers` (v1).
    public static func forClaim(_ claim: String, pool: String, hierarchy: CgroupHierarchy,
                                controllers: [String] = ControlGroup.v1Controllers) -> ControlGroup {
        ControlGroup(hierarchy: hierarchy, components: ["hypermesh", pool, claim], controllers: controllers)
    }

    var relativePath: String { self.components.joined(separator: "/") }

    /// Creates the group (and its parents) and writes `limits`.
    ///
    /// - Throws: ``HyperMeshError`` `io` naming the file that could not be written; a group
    ///   half made is removed again.
    public func create(limits: ResourceLimits) throws {
        switch self.hierarchy {
        case .unavailable(let reason):
            throw HyperMeshError.io("cgroups unavailable: \(reason)")
        case .v1:
            do {
                for directory in self.directories { try Self.makeDirectory(directory) }
                try self.writeLimits(limits)
            } catch {
                try? self.remove()
                throw error
            }
        case .v2(let root):
            do {
                var parent = root
                for component in self.components {
                    try Self.enableControllers(in: parent)
                    parent += "/" + component
                    try Self.makeDirectory(parent)
                }
                try self.writeLimits(limits)
            } catch {
                try? self.remove()
                throw error
            }
        }
    }

    /// Writes `limits` into the existing group's controller files. `adopted` groups were made
    /// by ``create(limits:)`` before, so their CFS period already is ours.
    func writeLimits(_ limits: ResourceLimits, adopted: Bool = false) throws {
        let relative = self.components.joined(separator: "/")
        switch self.hierarchy {
        case .unavailable(let reason):
            throw HyperMeshError.io("cgroups unavailable: \(reason)")
        case .v1(let mounts):
            let directory = { (controller: String) in
                self.controllers.contains(controller) ? mounts[controller].map { $0 + "/" + relative } : nil
            }
            if let cpu = directory("cpu") {
                if !adopted { try Self.write(String(ResourceLimits.cpuPeriodMicroseconds), to: cpu + "/cpu.cfs_period_us") }
                try Self.write(String(limits.cpuQuotaMicroseconds ?? -1), to: cpu + "/cpu.cfs_quota_us")
            }
            if let memory = directory("memory") {
                try Self.write(limits.memoryBytes.map(String.init) ?? "-1", to: memory + "/memory.limit_in_bytes")
                // Without a swap limit a v1 group could swap past its limit; keep it equal where the kernel accounts swap.
                if let bytes = limits.memoryBytes, Self.swapAccounting {
                    try Self.write(String(bytes), to: memory + "/memory.memsw.limit_in_bytes")
                }
            }
            if let pids = directory("pids"), !adopted || limits.maximumProcesses != nil {
                try Self.write(limits.maximumProcesses.map(String.init) ?? "max", to: pids + "/pids.max")
            }
        case .v2(let root):
            let parent = root + "/" + relative
            if self.controllers.contains("cpu") {
                let quota = limits.cpuQuotaMicroseconds.map(String.init) ?? "max"
                try Self.write("\(quota) \(ResourceLimits.cpuPeriodMicroseconds)", to: parent + "/cpu.max")
            }
            if self.controllers.contains("memory") {
                try Self.write(limits.memoryBytes.map(String.init) ?? "max", to: parent + "/memory.max")
                if limits.memoryBytes != nil, FileManager.default.fileExists(atPath: parent + "/memory.swap.max") {
                    try Self.write("0", to: parent + "/memory.swap.max")
                }
            }
            if self.controllers.contains("pids"), FileManager.default.fileExists(atPath: parent + "/pids.max") {
                try Self.write(limits.maximumProcesses.map(String.init) ?? "max", to: parent + "/pids.max")
            }
        }
    }

    /// Whether this kernel accounts swap in v1 memory cgroups (`memory.memsw.*` exist); read once.
    static let swapAccounting: Bool = {
        guard case .v1(let mounts) = CgroupHierarchy.detectHost(), let memory = mounts["memory"] else { return false }
        return access(memory + "/memory.memsw.limit_in_bytes", F_OK) == 0
    }()

    /// Moves process `pid` into the group (every v1 controller, or the v2 group).
    public func attach(pid: Int32) throws {
        for directory in self.directories { try Self.write(String(pid), to: directory + "/cgroup.procs") }
    }

    /// The processes in the group (read with one open/read, as this is on the release path).
    public func processes() -> [Int32] {
        guard let directory = self.directories.first else { return [] }
        let descriptor = open(directory + "/cgroup.procs", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var pids: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var current: Int32 = 0
        var inNumber = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            for byte in buffer[0..<count] {
                if byte >= 0x30 && byte <= 0x39 {
                    current = current &* 10 &+ Int32(byte - 0x30)
                    inNumber = true
                } else if inNumber {
                    pids.append(current)
                    current = 0
                    inNumber = false
                }
            }
        }
        if inNumber { pids.append(current) }
        return pids
    }

    /// Whether the group exists.
    public var exists: Bool {
        guard let directory = self.directories.first else { return false }
        return access(directory, F_OK) == 0
    }

    /// Reads CPU time, throttling, memory and OOM kills.
    public func usage() throws -> ResourceUsage {
        switch self.hierarchy {
        case .unavailable(let reason):
            throw HyperMeshError.io("cgroups unavailable: \(reason)")
        case .v1(let mounts):
            let path = { (controller: String, file: String) -> String in (mounts[controller] ?? "") + "/" + self.relativePath + "/" + file }
            let has = { (controller: String) in self.controllers.contains(controller) && mounts[controller] != nil }
            let cpuStat = has("cpu") ? try CgroupFiles.keyedValues(try CgroupFiles.read(path("cpu", "cpu.stat"))) : [:]
            let cpuNanoseconds = has("cpuacct") ? try CgroupFiles.integer(try CgroupFiles.read(path("cpuacct", "cpuacct.usage"))) : 0
            let oom = has("memory") ? try CgroupFiles.keyedValues(try CgroupFiles.read(path("memory", "memory.oom_control"))) : [:]
            let memory = has("memory") ? try CgroupFiles.integer(try CgroupFiles.read(path("memory", "memory.usage_in_bytes"))) : 0
            return ResourceUsage(cpuNanoseconds: cpuNanoseconds, throttledPeriods: cpuStat["nr_throttled"] ?? 0,
                                 memoryBytes: memory, oomKills: oom["oom_kill"] ?? 0)
        case .v2(let root):
            let base = root + "/" + self.relativePath + "/"
            let cpuStat = try CgroupFiles.keyedValues(try CgroupFiles.read(base + "cpu.stat"))
            let events = try CgroupFiles.keyedValues(try CgroupFiles.read(base + "memory.events"))
            return ResourceUsage(cpuNanoseconds: (cpuStat["usage_usec"] ?? 0) * 1000, throttledPeriods: cpuStat["nr_throttled"] ?? 0,
                                 memoryBytes: try CgroupFiles.integer(try CgroupFiles.read(base + "memory.current")),
                                 oomKills: events["oom_kill"] ?? 0)
        }
    }

    /// Removes the group. Its `hypermesh/<pool>` parents stay for the pool's next claims;
    /// ``removePool(_:hierarchy:)`` removes them with the pool.
    ///
    /// - Throws: ``HyperMeshError`` `conflict` while processes remain in it.
    public func remove() throws {
        for directory in self.directories where rmdir(directory) != 0 {
            let error = errno
            if error == ENOENT { continue }
            if error == EBUSY { throw HyperMeshError.conflict("\(directory) still holds processes") }
            throw HyperMeshError.io("cannot remove \(directory): \(String(cString: strerror(error)))")
        }
    }

    /// Removes `hypermesh/<pool>` with its spare groups (and `hypermesh` when it is left empty)
    /// once no claim group is in it.
    public static func removePool(_ pool: String, hierarchy: CgroupHierarchy) {
        let group = ControlGroup(hierarchy: hierarchy, components: ["hypermesh", pool])
        for directory in group.directories {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(Self.sparePrefix) {
                rmdir(directory + "/" + entry)
            }
            rmdir(directory)
            rmdir((directory as NSString).deletingLastPathComponent)
        }
    }

    /// mkdir(2), making missing parents only when needed: the usual case is one system call.
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        guard errno == ENOENT, path != "/" else {
            throw HyperMeshError.io("cannot create cgroup \(path): \(String(cString: strerror(errno)))")
        }
        try Self.makeDirectory((path as NSString).deletingLastPathComponent)
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw HyperMeshError.io("cannot create cgroup \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func enableControllers(in directory: String) throws {
        let available = (try? CgroupFiles.read(directory + "/cgroup.controllers"))?.split(whereSeparator: \.isWhitespace).map(String.init) ?? []
        let enabled = Set((try? CgroupFiles.read(directory + "/cgroup.subtree_control"))?.split(whereSeparator: \.isWhitespace).map(String.init) ?? [])
        let wanted = ["cpu", "memory", "pids", "io"].filter { available.contains($0) && !enabled.contains($0) }
        guard !wanted.isEmpty else { return }
        try Self.write(wanted.map { "+" + $0 }.joined(separator: " "), to: directory + "/cgroup.subtree_control")
    }

    static func write(_ text: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw HyperMeshError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw HyperMeshError.io("cannot write \"\(text)\" to \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Readers for the kernel's cgroup file formats.
public enum CgroupFiles {
    public static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw HyperMeshError.io("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// A file holding one integer (`memory.current`, `cpuacct.usage`).
    public static func integer(_ text: String) throws -> Int64 {
        guard let value = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HyperMeshError.corruptData("expected an integer, found \"\(text.prefix(40))\"")
        }
        return value
    }

    /// Lines of `KEY VALUE` (`cpu.stat`, `memory.events`, `memory.oom_control`); other lines are skipped.
    public static func keyedValues(_ text: String) throws -> [String: Int64] {
        var values: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { continue }
            guard let value = Int64(fields[1]) else { throw HyperMeshError.corruptData("\"\(line)\" is not KEY NUMBER") }
            values[String(fields[0])] = value
        }
        return values
    }
}
