import Foundation
import HyperMeshCore

/// Where one replica of a workload keeps what outlives the agent, `STATE/workloads/<workload>/<index>/`: the OCI
/// bundle (`bundle/config.json`, `bundle/rootfs`, the mount point of its overlay), the overlay's `upper` and
/// `work`, the log, and the files the shim writes — its own pid, the container's pid, the exit status. The agent
/// keeps no replica state in memory: after a restart it reads these and re-adopts what runs.
public struct ReplicaFiles: Sendable, Hashable {
    public let workload: String
    public let index: Int
    public let directory: String

    init(workloadsDirectory: String, workload: String, index: Int) {
        precondition(index >= 0)
        self.workload = workload
        self.index = index
        self.directory = workloadsDirectory + "/" + workload + "/" + String(index)
    }

    /// crun's id for the container, unique on this node.
    public var containerID: String { "hm-\(self.workload)-\(self.index)" }
    public var bundle: String { self.directory + "/bundle" }
    public var rootfs: String { self.bundle + "/rootfs" }
    var upper: String { self.directory + "/upper" }
    var work: String { self.directory + "/work" }
    public var log: String { self.directory + "/output.log" }
    var exitFile: String { self.directory + "/exit.json" }
    var containerPIDFile: String { self.directory + "/container.pid" }
    var shimPIDFile: String { self.directory + "/shim.pid" }
    var crunLog: String { self.bundle + "/crun.log" }

    /// The log files, oldest first (`output.log.2`, `output.log.1`, `output.log`).
    public func logFiles(maximumFiles: Int = 10) -> [String] {
        let rotated = (1..<maximumFiles).reversed().map { "\(self.log).\($0)" }
        return (rotated + [self.log]).filter { FileManager.default.fileExists(atPath: $0) }
    }
}

/// What the files of a replica say about it now.
public enum ReplicaState: Sendable, Equatable {
    /// Nothing was started (or it was removed).
    case absent
    /// The shim runs; crun has not yet written the container's pid.
    case starting
    case running(pid: Int32)
    case exited(ExitRecord)
    /// The shim is gone without writing an exit status (killed), and so is the container.
    case lost

    /// Whether a container is (about to be) running: `running` or `starting`.
    public var isActive: Bool {
        switch self {
        case .running, .starting: return true
        case .absent, .exited, .lost: return false
        }
    }
}

/// The shim's `exit.json`.
public struct ExitRecord: Sendable, Equatable {
    public var exitCode: Int
    public var finishedAt: Date
    /// Set when the shim could not start crun at all (a mount, a namespace).
    public var startError: String?
    /// OOM kills the kernel counted in the container's own cgroup.
    public var oomKills: Int64

    public init(exitCode: Int, finishedAt: Date, startError: String? = nil, oomKills: Int64 = 0) {
        self.exitCode = exitCode
        self.oomKills = oomKills
        self.finishedAt = finishedAt
        self.startError = startError
    }
}
