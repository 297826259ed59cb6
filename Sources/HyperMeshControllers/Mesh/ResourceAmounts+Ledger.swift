import HyperMeshConsensus
import HyperMeshCore

extension LedgerAmounts {
    /// CPU in millicores, the rest in whole bytes (a fraction of a byte is dropped), as the ledger counts.
    public init(_ amounts: ResourceAmounts) {
        self.init(cpuMillis: amounts.cpu.milliValue, memoryBytes: amounts.memory.wholeValue, storageBytes: amounts.storage.wholeValue,
                  gpuMemoryBytes: amounts.gpuMemory.wholeValue, gpuCount: amounts.gpuCount)
    }
}

extension ResourceAmounts {
    public init(_ amounts: LedgerAmounts) {
        func bytes(_ value: Int64) -> Quantity { Quantity(whole: min(value, Quantity.maximumWholeValue)) ?? .zero }
        self.init(cpu: Quantity(milliValue: amounts.cpuMillis), memory: bytes(amounts.memoryBytes), storage: bytes(amounts.storageBytes),
                  gpuMemory: bytes(amounts.gpuMemoryBytes), gpuCount: amounts.gpuCount)
    }
}

extension PoolOffer {
    /// What this pool offers the mesh, or `nil` when it is `private` (group entries of `allow` stay with the
    /// provider, which alone knows the groups).
    public var ledgerTerms: OfferTerms? {
        guard OfferTerms.offerable.contains(self.privacy) else { return nil }
        return OfferTerms(privacy: self.privacy, allow: self.allow.filter { !$0.hasPrefix("group:") }, total: LedgerAmounts(self.total),
                          maximumPerClaim: LedgerAmounts(self.maximumPerClaim))
    }
}
