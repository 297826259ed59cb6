import Foundation
import HyperMeshCore

/// Everything `hypermesh assets` shows: CPU, memory, storage and the cgroup interface.
public struct HostInventory: Sendable {
    public var cpu: CPUFacts
    public var memory: MemoryFacts
    public var storage: [StorageFacts]
    public var gpus: [GPUDevice]
    /// Why GPUs could not be listed, when the Vulkan loader failed.
    public var gpuProblem: String?
    public var cgroups: CgroupHierarchy

    /// Discovers the host, with storage facts for each of `storagePaths`.
    public static func discover(storagePaths: [String], discovery: HostDiscovery = HostDiscovery()) throws -> HostInventory {
        var gpus: [GPUDevice] = []
        var gpuProblem: String?
        do { gpus = try GPUDevices.discover() } catch let error as HyperMeshError { gpuProblem = error.message }
        return HostInventory(cpu: try discovery.cpu(), memory: try discovery.memory(),
                             storage: try storagePaths.map { try discovery.storage(at: $0) }, gpus: gpus, gpuProblem: gpuProblem,
                             cgroups: CgroupHierarchy.detectHost())
    }

    public var json: JSONValue {
        var cgroups: [String: JSONValue] = ["version": .string(self.cgroups.name)]
        switch self.cgroups {
        case .v2(let root): cgroups["root"] = .string(root)
        case .v1(let mounts): cgroups["mounts"] = .object(mounts.mapValues(JSONValue.string))
        case .unavailable(let reason): cgroups["reason"] = .string(reason)
        }
        var members: [String: JSONValue] = ["cpu": self.cpu.json, "memory": self.memory.json, "storage": .array(self.storage.map(\.json)),
                                            "gpus": .array(self.gpus.map(\.json)), "cgroups": .object(cgroups)]
        if let gpuProblem { members["gpuProblem"] = .string(gpuProblem) }
        return .object(members)
    }
}
