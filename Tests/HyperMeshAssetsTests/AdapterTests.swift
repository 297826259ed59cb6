import Foundation
import HyperMeshAssets
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// The four adapters behind the one protocol, on this host.
struct AdapterTests {
    @Test func everyAdapterDiscoversAndReportsHealth() throws {
        let directory = try TemporaryDirectory(prefix: "adapters")
        defer { directory.remove() }
        let adapters: [any AssetAdapter] = [CPUAdapter(), MemoryAdapter(), StorageAdapter(path: directory.path), GPUAdapter()]
        #expect(adapters.map(\.kind) == AssetKind.allCases)
        for adapter in adapters {
            #expect(try adapter.discover() != .null)
            #expect(adapter.health() == nil, "\(adapter.kind): \(adapter.health() ?? "")")
            #expect(!adapter.capabilities.mechanism.isEmpty)
        }
        #expect(try CPUAdapter().discover()["online"]?.integerValue ?? 0 >= 1)
        #expect(GPUAdapter().capabilities.enforced == false)
    }

    @Test func cpuAndMemoryGrantsAreCgroupsThatReleaseCompletely() throws {
        let hierarchy = CgroupHierarchy.detectHost()
        guard geteuid() == 0, hierarchy.name != "none" else {
            print("skipped: cgroup adapters need root and a cgroup hierarchy")
            return
        }
        let pool = "adapters-\(getpid())"
        defer { ControlGroup.removePool(pool, hierarchy: hierarchy) }
        let cpu = AssetRequest(pool: pool, claim: "c", amount: Quantity(milliValue: 250))
        let memory = AssetRequest(pool: pool, claim: "c", amount: try Quantity(parsing: "64Mi"))
        let cpuGrant = try CPUAdapter(hierarchy: hierarchy).allocate(cpu)
        let memoryGrant = try MemoryAdapter(hierarchy: hierarchy).allocate(memory)
        #expect(cpuGrant.unenforced == nil && memoryGrant.unenforced == nil)
        let directories = (cpuGrant.details["cgroups"]?.arrayValue ?? []) + (memoryGrant.details["cgroups"]?.arrayValue ?? [])
        #expect(directories.count >= 1)
        if case .v1(let mounts) = hierarchy {
            let quota = try String(contentsOfFile: mounts["cpu"]! + "/hypermesh/\(pool)/c/cpu.cfs_quota_us", encoding: .utf8)
            #expect(quota.trimmingCharacters(in: .whitespacesAndNewlines) == "25000")
            let limit = try String(contentsOfFile: mounts["memory"]! + "/hypermesh/\(pool)/c/memory.limit_in_bytes", encoding: .utf8)
            #expect(limit.trimmingCharacters(in: .whitespacesAndNewlines) == String(64 << 20))
        }
        #expect(try CPUAdapter(hierarchy: hierarchy).usage(cpu)["throttledPeriods"] != nil)
        #expect(try MemoryAdapter(hierarchy: hierarchy).usage(memory)["memoryBytes"] != nil)
        try CPUAdapter(hierarchy: hierarchy).release(cpu)
        try MemoryAdapter(hierarchy: hierarchy).release(memory)
        try MemoryAdapter(hierarchy: hierarchy).release(memory)  // idempotent
        #expect(directories.compactMap(\.stringValue).allSatisfy { !FileManager.default.fileExists(atPath: $0) })
    }

    @Test func unavailableCgroupsAreAccountedNotEnforced() throws {
        let grant = try CPUAdapter(hierarchy: .unavailable(reason: "no cgroups here")).allocate(
            AssetRequest(pool: "p", claim: "c", amount: Quantity(milliValue: 500)))
        #expect(grant.unenforced?.reason == "EnforcementUnavailable")
        #expect(CPUAdapter(hierarchy: .unavailable(reason: "x")).capabilities.enforced == false)
    }

    @Test func smallStorageIsAccountedAndGPUsMustExist() throws {
        let directory = try TemporaryDirectory(prefix: "storage-adapter")
        defer { directory.remove() }
        let request = AssetRequest(pool: "p", claim: "tiny", amount: try Quantity(parsing: "1Mi"), storagePath: directory.path)
        let grant = try StorageAdapter(path: directory.path).allocate(request)
        #expect(grant.unenforced?.reason == "QuotaNotEnforced")
        try directory.write("tiny/data", String(repeating: "x", count: 4096))
        #expect(try StorageAdapter(path: directory.path).usage(request)["usedBytes"] == 4096)
        try StorageAdapter(path: directory.path).release(request)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/tiny"))
        #expect(throws: HyperMeshError.invalidArgument()) {
            try StorageAdapter(path: "/").allocate(AssetRequest(pool: "p", claim: "x", amount: Quantity(whole: 1)!))
        }
        #expect(throws: HyperMeshError.notFound()) {
            try GPUAdapter().allocate(AssetRequest(pool: "p", claim: "g", amount: .zero, devices: ["99"]))
        }
    }
}
