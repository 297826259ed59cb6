import Foundation
import HyperMeshCore

/// CPU: online CPUs and the process's cgroup limit; a claim gets a CFS quota (`cpu.max` on v2)
/// in `hypermesh/<pool>/<claim>`, with `cpuacct` beside it on v1 for its usage. (No `pids`
/// group: the spec has no process limit yet, and a group that limits nothing only costs time.)
public struct CPUAdapter: AssetAdapter {
    public let hierarchy: CgroupHierarchy
    let discovery: HostDiscovery
    static let controllers = ["cpu", "cpuacct"]

    public init(hierarchy: CgroupHierarchy = CgroupHierarchy.detectHost(), discovery: HostDiscovery = HostDiscovery()) {
        self.hierarchy = hierarchy
        self.discovery = discovery
    }

    public var kind: AssetKind { .cpu }
    public var capabilities: AssetCapabilities { CgroupEnforcement.capabilities(self.hierarchy, file: "cpu quota") }
    public func discover() throws -> JSONValue { try self.discovery.cpu().json }

    /// The claim's group in this adapter's controllers.
    public func group(_ request: AssetRequest) -> ControlGroup {
        ControlGroup.forClaim(request.claim, pool: request.pool, hierarchy: self.hierarchy, controllers: Self.controllers)
    }

    public func allocate(_ request: AssetRequest) throws -> AssetGrant {
        try CgroupEnforcement.allocate(self.group(request), limits: ResourceLimits(cpu: request.amount), kind: .cpu)
    }

    public func release(_ request: AssetRequest) throws { try CgroupEnforcement.release(self.group(request)) }
    public func usage(_ request: AssetRequest) throws -> JSONValue { try self.group(request).usage().json }
    public func health() -> String? { (try? self.discovery.cpu()) == nil ? "cannot read the online CPUs" : nil }
}

/// Memory: MemTotal/MemAvailable; a claim gets `memory.limit_in_bytes` (`memory.max` on v2),
/// and the kernel OOM-kills past it.
public struct MemoryAdapter: AssetAdapter {
    public let hierarchy: CgroupHierarchy
    let discovery: HostDiscovery

    public init(hierarchy: CgroupHierarchy = CgroupHierarchy.detectHost(), discovery: HostDiscovery = HostDiscovery()) {
        self.hierarchy = hierarchy
        self.discovery = discovery
    }

    public var kind: AssetKind { .memory }
    public var capabilities: AssetCapabilities { CgroupEnforcement.capabilities(self.hierarchy, file: "memory limit") }
    public func discover() throws -> JSONValue { try self.discovery.memory().json }

    /// The claim's group in this adapter's controllers.
    public func group(_ request: AssetRequest) -> ControlGroup {
        ControlGroup.forClaim(request.claim, pool: request.pool, hierarchy: self.hierarchy, controllers: ["memory"])
    }

    public func allocate(_ request: AssetRequest) throws -> AssetGrant {
        try CgroupEnforcement.allocate(self.group(request), limits: ResourceLimits(memoryBytes: request.amount.wholeValue), kind: .memory)
    }

    public func release(_ request: AssetRequest) throws { try CgroupEnforcement.release(self.group(request)) }
    public func usage(_ request: AssetRequest) throws -> JSONValue { try self.group(request).usage().json }
    public func health() -> String? { (try? self.discovery.memory()) == nil ? "cannot read /proc/meminfo" : nil }
}

/// What the CPU and memory adapters share: making, filling and removing a claim's groups.
enum CgroupEnforcement {
    static func capabilities(_ hierarchy: CgroupHierarchy, file: String) -> AssetCapabilities {
        switch hierarchy {
        case .unavailable(let reason): return AssetCapabilities(enforced: false, mechanism: "accounting", reason: reason)
        default: return AssetCapabilities(enforced: true, mechanism: "cgroup \(hierarchy.name) \(file)", reason: nil)
        }
    }

    static func allocate(_ group: ControlGroup, limits: ResourceLimits, kind: AssetKind) throws -> AssetGrant {
        do {
            try group.createAdoptingSpare(limits: limits)
            return AssetGrant(kind: kind, details: ["cgroups": .array(group.directories.map(JSONValue.string))])
        } catch let error as HyperMeshError where error.code == .io {
            return AssetGrant(kind: kind, unenforced: (reason: "EnforcementUnavailable", message: error.message))
        }
    }

    /// Kills what is left in the group, then retires it to the pool's spares (killed processes
    /// take a moment to leave).
    static func release(_ group: ControlGroup) throws {
        // A group that does not exist has no processes (the read fails) and nothing to rename or remove.
        var attempts = 0
        while case let remaining = group.processes(), !remaining.isEmpty {
            guard attempts < 50 else { throw HyperMeshError.conflict("\(group.directories.first ?? "") still holds processes") }
            for pid in remaining { kill(pid, SIGKILL) }
            attempts += 1
            usleep(20_000)
        }
        try group.retire()
    }
}
