import Foundation
import HyperMeshCore
import Synchronization

/// Which cgroup interface this host offers for enforcement.
public enum CgroupHierarchy: Sendable, Hashable {
    /// cgroup v2 at `root`, with the `cpu` and `memory` controllers available.
    case v2(root: String)
    /// cgroup v1: mount point by controller (`cpu`, `cpuacct`, `memory`, `pids`, `blkio`).
    case v1(mounts: [String: String])
    /// Neither can be used; the reason says why.
    case unavailable(reason: String)

    /// The controllers HyperMesh enforces with.
    public static let requiredControllers = ["cpu", "memory"]

    /// Detects the hierarchy from `/proc/self/mounts`: v2 when a `cgroup2` mount has the cpu and
    /// memory controllers (an ordinary systemd host), else v1 when both have v1 mounts, else none.
    /// Writability is checked by creating the group, which reports its own error.
    public static func detect(mountsText: String, controllersOf: (String) -> String? = { path in
        FileManager.default.contents(atPath: path + "/cgroup.controllers").map { String(decoding: $0, as: UTF8.self) }
    }) -> CgroupHierarchy {
        var v1: [String: String] = [:]
        var v2Roots: [String] = []
        for line in mountsText.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { continue }
            let mountPoint = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            if fields[2] == "cgroup2" {
                v2Roots.append(mountPoint)
            } else if fields[2] == "cgroup" {
                for option in fields[3].split(separator: ",") where ["cpu", "cpuacct", "memory", "pids", "blkio"].contains(String(option)) {
                    v1[String(option)] = mountPoint
                }
            }
        }
        for root in v2Roots {
            let available = Set((controllersOf(root) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
            if Self.requiredControllers.allSatisfy(available.contains) { return .v2(root: root) }
        }
        if Self.requiredControllers.allSatisfy({ v1[$0] != nil }) { return .v1(mounts: v1) }
        if v2Roots.isEmpty && v1.isEmpty { return .unavailable(reason: "no cgroup filesystem is mounted") }
        return .unavailable(reason: "neither cgroup v2 nor v1 offers both the cpu and memory controllers")
    }

    /// The hierarchy of this host.
    public static func detectHost() -> CgroupHierarchy {
        guard let data = FileManager.default.contents(atPath: "/proc/self/mounts") else {
            return .unavailable(reason: "cannot read /proc/self/mounts")
        }
        return self.detect(mountsText: String(decoding: data, as: UTF8.self))
    }

    /// ``detectHost()`` at most once per `maxAge`: controllers ask on every claim and every pool deletion, and
    /// parsing a long `/proc/self/mounts` each time was a quarter of the agent's CPU deleting 10,000 pools.
    public static func host(maxAge: TimeInterval = 1) -> CgroupHierarchy {
        let now = Date()
        if let cached = Self.hostCache.withLock({ $0 }), now.timeIntervalSince(cached.at) < maxAge { return cached.hierarchy }
        let detected = Self.detectHost()
        Self.hostCache.withLock { $0 = (detected, now) }
        return detected
    }

    private static let hostCache = Mutex<(hierarchy: CgroupHierarchy, at: Date)?>(nil)

    public var name: String {
        switch self {
        case .v2: return "v2"
        case .v1: return "v1"
        case .unavailable: return "none"
        }
    }
}
