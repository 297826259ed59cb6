import HyperMeshCore

/// Amounts of each resource, as a pool offers them or a claim asks for them. Exact arithmetic.
public struct ResourceAmounts: Sendable, Hashable {
    public var cpu: Quantity = .zero
    public var memory: Quantity = .zero
    public var storage: Quantity = .zero
    public var gpuMemory: Quantity = .zero
    public var gpuCount: Int64 = 0

    public init(cpu: Quantity = .zero, memory: Quantity = .zero, storage: Quantity = .zero, gpuMemory: Quantity = .zero, gpuCount: Int64 = 0) {
        self.cpu = cpu
        self.memory = memory
        self.storage = storage
        self.gpuMemory = gpuMemory
        self.gpuCount = gpuCount
    }

    static let names = ["cpu", "memory", "storage", "gpu.memory", "gpu.count"]

    /// Amounts by name, for messages and status.
    var byName: [(String, Quantity)] {
        [("cpu", self.cpu), ("memory", self.memory), ("storage", self.storage), ("gpu.memory", self.gpuMemory),
         ("gpu.count", Quantity(whole: self.gpuCount)!)]
    }

    public func adding(_ other: ResourceAmounts) -> ResourceAmounts {
        ResourceAmounts(cpu: self.cpu.adding(other.cpu) ?? self.cpu, memory: self.memory.adding(other.memory) ?? self.memory,
                        storage: self.storage.adding(other.storage) ?? self.storage,
                        gpuMemory: self.gpuMemory.adding(other.gpuMemory) ?? self.gpuMemory, gpuCount: self.gpuCount + other.gpuCount)
    }

    public func subtracting(_ other: ResourceAmounts) -> ResourceAmounts {
        ResourceAmounts(cpu: self.cpu.subtracting(other.cpu) ?? .zero, memory: self.memory.subtracting(other.memory) ?? .zero,
                        storage: self.storage.subtracting(other.storage) ?? .zero,
                        gpuMemory: self.gpuMemory.subtracting(other.gpuMemory) ?? .zero, gpuCount: self.gpuCount - other.gpuCount)
    }

    /// The resources where `self` is larger than `limit`, by name.
    public func exceeding(_ limit: ResourceAmounts) -> [String] {
        zip(self.byName, limit.byName).filter { $0.0.1 > $0.1.1 }.map { $0.0.0 }
    }

    public var json: JSONValue {
        .object([
            "cpu": .string(self.cpu.description), "memory": .string(self.memory.description), "storage": .string(self.storage.description),
            "gpuMemory": .string(self.gpuMemory.description), "gpuCount": .integer(self.gpuCount),
        ])
    }

    public init(json: JSONValue) {
        func quantity(_ key: String) -> Quantity { json[key]?.stringValue.flatMap { try? Quantity(parsing: $0) } ?? .zero }
        self.init(cpu: quantity("cpu"), memory: quantity("memory"), storage: quantity("storage"), gpuMemory: quantity("gpuMemory"),
                  gpuCount: json["gpuCount"]?.integerValue ?? 0)
    }
}
