import HyperMeshCore

/// What a ResourcePool spec offers: totals, per-claim limits, privacy.
public struct PoolOffer: Sendable {
    public var privacy: String
    public var allow: [String]
    public var total: ResourceAmounts
    /// Per resource, the most one claim may take (the total where the spec sets no limit).
    public var maximumPerClaim: ResourceAmounts
    public var storagePath: String?
    public var gpuDevices: [String]

    public init(spec: JSONValue) {
        func quantity(_ path: String) -> Quantity? { spec.value(atPath: path)?.stringValue.flatMap { try? Quantity(parsing: $0) } }
        self.privacy = spec["privacy"]?.stringValue ?? "private"
        self.allow = spec["allow"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.storagePath = spec.value(atPath: "storage.path")?.stringValue
        self.gpuDevices = spec.value(atPath: "gpu.devices")?.arrayValue?.compactMap(\.stringValue) ?? []
        self.total = ResourceAmounts(cpu: quantity("cpu.cores") ?? .zero, memory: quantity("memory.size") ?? .zero,
                                     storage: quantity("storage.size") ?? .zero, gpuMemory: quantity("gpu.memory") ?? .zero,
                                     gpuCount: Int64(self.gpuDevices.count))
        self.maximumPerClaim = ResourceAmounts(
            cpu: quantity("cpu.maxPerClaim") ?? self.total.cpu, memory: quantity("memory.maxPerClaim") ?? self.total.memory,
            storage: quantity("storage.maxPerClaim") ?? self.total.storage, gpuMemory: quantity("gpu.maxPerClaim") ?? self.total.gpuMemory,
            gpuCount: self.total.gpuCount)
    }
}

/// What a Claim spec asks for.
public struct ClaimRequest: Sendable {
    public var pool: String
    public var amounts: ResourceAmounts
    public var consumer: String?
    public var duration: TimeSpan?

    public init(spec: JSONValue) {
        func quantity(_ path: String) -> Quantity { spec.value(atPath: path)?.stringValue.flatMap { try? Quantity(parsing: $0) } ?? .zero }
        self.pool = spec["pool"]?.stringValue ?? ""
        let gpuMemory = quantity("gpu.memory")
        var gpuCount = spec.value(atPath: "gpu.count")?.integerValue ?? 0
        if gpuCount == 0 && gpuMemory > .zero { gpuCount = 1 }
        self.amounts = ResourceAmounts(cpu: quantity("cpu"), memory: quantity("memory"), storage: quantity("storage"),
                                       gpuMemory: gpuMemory, gpuCount: gpuCount)
        self.consumer = spec["consumer"]?.stringValue
        self.duration = spec["duration"]?.stringValue.flatMap { try? TimeSpan(parsing: $0) }
    }
}

/// Who may claim from a pool, by its privacy level.
public enum PrivacyRule {
    /// Whether `consumer` may claim from a pool with `privacy` and `allow`, on the node `localNode`.
    ///
    /// - `private`: only this node. - `private-network`: this node or a listed node id or group.
    /// - `p2p`: this node or a listed node id. - `public-network`: any mesh member (a node id).
    /// - `full-public`: anyone.
    public static func permits(consumer: String, privacy: String, allow: [String], localNode: String) -> Bool {
        switch privacy {
        case "private": return consumer == localNode
        case "private-network": return consumer == localNode || allow.contains(consumer)
        case "p2p": return consumer == localNode || (!consumer.hasPrefix("group:") && allow.contains(consumer))
        case "public-network": return consumer == localNode || !consumer.hasPrefix("group:")
        case "full-public": return true
        default: return false
        }
    }
}
