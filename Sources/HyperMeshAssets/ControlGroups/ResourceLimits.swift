import HyperMeshCore

/// What the kernel should hold a claim to.
public struct ResourceLimits: Sendable, Hashable {
    /// CPU time, in cores (`500m` is half a core).
    public var cpu: Quantity?
    public var memoryBytes: Int64?
    public var maximumProcesses: Int?

    public init(cpu: Quantity? = nil, memoryBytes: Int64? = nil, maximumProcesses: Int? = nil) {
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.maximumProcesses = maximumProcesses
    }

    /// The CFS period both cgroup versions use here.
    public static let cpuPeriodMicroseconds: Int64 = 100_000

    /// The quota per period for ``cpu``: 500m → 50,000 µs per 100,000 µs.
    public var cpuQuotaMicroseconds: Int64? {
        self.cpu.map { max(1000, $0.milliValue * Self.cpuPeriodMicroseconds / 1000) }
    }
}

/// What a claim's cgroup has used.
public struct ResourceUsage: Sendable, Hashable {
    public var cpuNanoseconds: Int64
    /// Periods in which the group hit its CPU quota.
    public var throttledPeriods: Int64
    public var memoryBytes: Int64
    /// Processes the kernel killed for exceeding the memory limit.
    public var oomKills: Int64

    public init(cpuNanoseconds: Int64, throttledPeriods: Int64, memoryBytes: Int64, oomKills: Int64) {
        self.cpuNanoseconds = cpuNanoseconds
        self.throttledPeriods = throttledPeriods
        self.memoryBytes = memoryBytes
        self.oomKills = oomKills
    }

    public var json: JSONValue {
        ["cpuNanoseconds": .integer(self.cpuNanoseconds), "throttledPeriods": .integer(self.throttledPeriods),
         "memoryBytes": .integer(self.memoryBytes), "oomKills": .integer(self.oomKills)]
    }
}
