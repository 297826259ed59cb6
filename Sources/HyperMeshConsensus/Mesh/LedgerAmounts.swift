/// Resources as the ledger counts them, in whole units so every validator computes the same sums: CPU in
/// millicores, memory, storage and GPU memory in bytes, GPUs by count.
public struct LedgerAmounts: Sendable, Hashable, CustomStringConvertible {
    public var cpuMillis: Int64
    public var memoryBytes: Int64
    public var storageBytes: Int64
    public var gpuMemoryBytes: Int64
    public var gpuCount: Int64

    public init(cpuMillis: Int64 = 0, memoryBytes: Int64 = 0, storageBytes: Int64 = 0, gpuMemoryBytes: Int64 = 0, gpuCount: Int64 = 0) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.storageBytes = storageBytes
        self.gpuMemoryBytes = gpuMemoryBytes
        self.gpuCount = gpuCount
    }

    public static let zero = LedgerAmounts()

    /// Names and values in a fixed order: messages, comparisons, the wire.
    public var byName: [(name: String, value: Int64)] {
        [("cpu", self.cpuMillis), ("memory", self.memoryBytes), ("storage", self.storageBytes), ("gpu.memory", self.gpuMemoryBytes),
         ("gpu.count", self.gpuCount)]
    }

    init(values: [Int64]) {
        self.init(cpuMillis: values[0], memoryBytes: values[1], storageBytes: values[2], gpuMemoryBytes: values[3], gpuCount: values[4])
    }

    public var isZero: Bool { self.byName.allSatisfy { $0.value == 0 } }
    var hasNegative: Bool { self.byName.contains { $0.value < 0 } }

    /// Saturating: amounts come from the network, and an overflow must not trap a validator.
    public func adding(_ other: LedgerAmounts) -> LedgerAmounts {
        LedgerAmounts(values: zip(self.byName, other.byName).map { pair in
            let (sum, overflow) = pair.0.value.addingReportingOverflow(pair.1.value)
            return overflow ? .max : sum
        })
    }

    public func subtracting(_ other: LedgerAmounts) -> LedgerAmounts {
        LedgerAmounts(values: zip(self.byName, other.byName).map { pair in
            let (difference, overflow) = pair.0.value.subtractingReportingOverflow(pair.1.value)
            return overflow ? .min : difference
        })
    }

    /// The resources where `self` is more than `limit`, by name.
    public func exceeding(_ limit: LedgerAmounts) -> [String] {
        zip(self.byName, limit.byName).filter { $0.0.value > $0.1.value }.map(\.0.name)
    }

    public var description: String {
        self.byName.filter { $0.value != 0 }.map { "\($0.name)=\($0.value)" }.joined(separator: " ").nonEmpty ?? "nothing"
    }
}

extension String {
    var nonEmpty: String? { self.isEmpty ? nil : self }
}

extension CanonicalEncoder {
    mutating func append(_ amounts: LedgerAmounts) {
        for (_, value) in amounts.byName { self.append(UInt64(bitPattern: value)) }
    }
}

extension CanonicalDecoder {
    mutating func amounts(_ what: String) throws(ConsensusWireError) -> LedgerAmounts {
        var values: [Int64] = []
        for name in ["cpu", "memory", "storage", "gpu memory", "gpu count"] {
            values.append(Int64(bitPattern: try self.uint64("\(what) \(name)")))
        }
        return LedgerAmounts(values: values)
    }
}
