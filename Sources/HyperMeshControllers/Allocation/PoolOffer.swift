import HyperMeshCore

/// What a ResourcePool spec offers: totals, per-claim limits, privacy.
///
/// A total given as a share of the host (`cores: 50%`) is zero here until ``resolved(cpu:memory:storage:)``
/// (against discovery) or ``resolved(publishedCapacity:)`` (the capacity the pool's status shows) makes it exact.
public struct PoolOffer: Sendable {
    public var privacy: String
    public var allow: [String]
    public var total: ResourceAmounts
    /// Per resource, the most one claim may take (the total where the spec sets no limit).
    public var maximumPerClaim: ResourceAmounts
    public var storagePath: String?
    public var gpuDevices: [String]
    /// The totals the spec gives as shares of the host, not yet resolved.
    public var shares: Shares
    private var givenMaximum: ResourceAmounts

    /// Which totals are shares of the host.
    public struct Shares: Sendable, Equatable {
        public var cpu: HostShare?
        public var memory: HostShare?
        public var storage: HostShare?

        public var isEmpty: Bool { self.cpu == nil && self.memory == nil && self.storage == nil }
    }

    /// Memory and storage shares resolve to whole MiB, rounded down.
    public static let byteShareGranularity = Quantity(whole: 1 << 20)!

    public init(spec: JSONValue) {
        // Each section is looked up once and each value parsed once: a pass over 10,000 pools builds this for every
        // pool it reconciles and for every pool the change feed brings, and path lookups were most of its cost.
        let cpu = spec["cpu"], memory = spec["memory"], storage = spec["storage"], gpu = spec["gpu"]
        func quantity(_ section: JSONValue?, _ key: String) -> Quantity? {
            section?[key]?.stringValue.flatMap { try? Quantity(parsing: $0) }
        }
        /// A total: an exact quantity, or a share of the host (then the quantity is zero until resolved).
        func total(_ section: JSONValue?, _ key: String) -> (Quantity?, HostShare?) {
            guard let text = section?[key]?.stringValue else { return (nil, nil) }
            if HostShare.isShare(text) { return (nil, try? HostShare(parsing: text)) }
            return (try? Quantity(parsing: text), nil)
        }
        let (cores, coresShare) = total(cpu, "cores")
        let (memorySize, memoryShare) = total(memory, "size")
        let (storageSize, storageShare) = total(storage, "size")
        self.privacy = spec["privacy"]?.stringValue ?? "private"
        self.allow = spec["allow"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.storagePath = storage?["path"]?.stringValue
        self.gpuDevices = gpu?["devices"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.shares = Shares(cpu: coresShare, memory: memoryShare, storage: storageShare)
        self.total = ResourceAmounts(cpu: cores ?? .zero, memory: memorySize ?? .zero, storage: storageSize ?? .zero,
                                     gpuMemory: quantity(gpu, "memory") ?? .zero, gpuCount: Int64(self.gpuDevices.count))
        // Zero where the spec sets no limit: the limit is then the (resolved) total.
        self.givenMaximum = ResourceAmounts(cpu: quantity(cpu, "maxPerClaim") ?? .zero, memory: quantity(memory, "maxPerClaim") ?? .zero,
                                            storage: quantity(storage, "maxPerClaim") ?? .zero, gpuMemory: quantity(gpu, "maxPerClaim") ?? .zero)
        self.maximumPerClaim = ResourceAmounts()
        self.updateMaximumPerClaim()
    }

    /// The offer with its shares made exact: `cpu` usable cores, `memory` bytes of the host, `storage` the size of
    /// the filesystem under ``storagePath`` (`nil` when there is none).
    public func resolved(cpu: Quantity, memory: Quantity, storage: Quantity?) -> PoolOffer {
        guard !self.shares.isEmpty else { return self }
        var offer = self
        if let share = self.shares.cpu { offer.total.cpu = share.of(cpu) }
        if let share = self.shares.memory { offer.total.memory = share.of(memory, granularity: Self.byteShareGranularity) }
        if let share = self.shares.storage, let storage { offer.total.storage = share.of(storage, granularity: Self.byteShareGranularity) }
        offer.updateMaximumPerClaim()
        return offer
    }

    /// The offer with its shares taken from the capacity the pool last published in its status, so a claim is
    /// placed against what `get pool` shows.
    public func resolved(publishedCapacity capacity: ResourceAmounts) -> PoolOffer {
        guard !self.shares.isEmpty else { return self }
        var offer = self
        if self.shares.cpu != nil { offer.total.cpu = capacity.cpu }
        if self.shares.memory != nil { offer.total.memory = capacity.memory }
        if self.shares.storage != nil { offer.total.storage = capacity.storage }
        offer.updateMaximumPerClaim()
        return offer
    }

    /// A limit above a (resolved) total is the total: a share may resolve below the limit written beside it.
    private mutating func updateMaximumPerClaim() {
        func limit(_ given: Quantity, _ total: Quantity) -> Quantity { given == .zero ? total : min(given, total) }
        self.maximumPerClaim = ResourceAmounts(
            cpu: limit(self.givenMaximum.cpu, self.total.cpu), memory: limit(self.givenMaximum.memory, self.total.memory),
            storage: limit(self.givenMaximum.storage, self.total.storage),
            gpuMemory: limit(self.givenMaximum.gpuMemory, self.total.gpuMemory), gpuCount: self.total.gpuCount)
    }
}

/// What a Claim spec asks for.
public struct ClaimRequest: Sendable {
    public var pool: String
    public var amounts: ResourceAmounts
    public var consumer: String?
    /// The provider's node id, for a claim placed on another node through the mesh ledger.
    public var node: String?
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
        self.node = spec["node"]?.stringValue
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
