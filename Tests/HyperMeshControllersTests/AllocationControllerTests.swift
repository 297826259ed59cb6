import Foundation
import HyperMeshAssets
import HyperMeshControllers
import HyperMeshCore
import HyperMeshReconciler
import HyperMeshStore
import HyperMeshTestSupport
import Logging
import Testing

/// Pool and claim controllers against a fake host (fixture /sys and /proc) and with cgroups
/// unavailable, so the logic is tested apart from the kernel: host fit, lease expiry, and the
/// honest `EnforcementUnavailable` when nothing can enforce.
struct AllocationControllerTests {
    static func fakeHost(in directory: TemporaryDirectory, cpus: String, memoryKilobytes: Int) throws -> HostDiscovery {
        try directory.write("sys/devices/system/cpu/online", cpus + "\n")
        try directory.write("proc/meminfo", "MemTotal: \(memoryKilobytes) kB\nMemAvailable: \(memoryKilobytes / 2) kB\n")
        try directory.write("proc/self/cgroup", "0::/\n")
        return HostDiscovery(sysRoot: directory.path + "/sys", procRoot: directory.path + "/proc", cgroupRoot: directory.path + "/cgroup")
    }

    /// A pool and a claim controller on `discovery`'s host, with no cgroups to write.
    static func allocating(_ store: StateStore, on discovery: HostDiscovery, workerCount: Int = 2) -> Reconciler {
        Reconciler(store: store, controllers: [ResourcePoolController(discovery: discovery),
                                               ClaimController(hierarchy: { .unavailable(reason: "test host") })],
                   logger: Logger(label: "t"), workerCount: workerCount)
    }

    static func claim(_ name: String, pool: String, cpu: String) -> DesiredObject {
        DesiredObject(key: ResourceKey(kind: .claim, name: name), labels: [:], spec: ["pool": .string(pool), "cpu": .string(cpu)])
    }

    static func pool(_ name: String, cores: String, memory: String = "1Gi") -> DesiredObject {
        DesiredObject(key: ResourceKey(kind: .resourcePool, name: name), labels: [:],
                      spec: ["privacy": "private", "cpu": ["cores": .string(cores)], "memory": ["size": .string(memory)]])
    }

    @Test func poolsThatExceedTheHostAreDegraded() async throws {
        let directory = try TemporaryDirectory(prefix: "alloc-ctl")
        defer { directory.remove() }
        let discovery = try Self.fakeHost(in: directory, cpus: "0-1", memoryKilobytes: 4 << 20)
        let store = try StateStore(directory: directory.url.appendingPathComponent("state"))
        try store.apply([Self.pool("small", cores: "1"), Self.pool("big", cores: "1500m")])
        let reconciler = Reconciler(store: store, controllers: [ResourcePoolController(discovery: discovery)], logger: Logger(label: "t"))
        _ = try await reconciler.runPass()
        let status = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "small"))?.status)
        #expect(status.condition(Condition.ready)?.reason == "ExceedsHost")
        #expect(status.condition(Condition.degraded)?.message.contains("cpu 2500m > 2 usable cores") == true)
        #expect(status.fields["capacity"]?["cpu"] == "1")

        try store.requestDeletion(of: [ResourceKey(kind: .resourcePool, name: "big")])
        _ = try await reconciler.runPass()
        let fits = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "small"))?.status)
        #expect(fits.condition(Condition.ready)?.reason == "Available")
        #expect(fits.fields["free"]?["memory"] == "1Gi")
    }

    @Test func leaseEndsAndClaimIsReleasedWithoutCgroupsItIsDegraded() async throws {
        let directory = try TemporaryDirectory(prefix: "alloc-lease")
        defer { directory.remove() }
        let discovery = try Self.fakeHost(in: directory, cpus: "0-7", memoryKilobytes: 16 << 20)
        let store = try StateStore(directory: directory.url.appendingPathComponent("state"))
        let clock = TestClock(Date())
        let claimController = ClaimController(now: { clock.now }, hierarchy: { .unavailable(reason: "test host") })
        let reconciler = Reconciler(store: store, controllers: [ResourcePoolController(discovery: discovery), claimController],
                                    logger: Logger(label: "t"))
        let claimKey = ResourceKey(kind: .claim, name: "lease")
        try store.apply([Self.pool("p", cores: "4"),
                         DesiredObject(key: claimKey, labels: [:], spec: ["pool": "p", "cpu": "1", "duration": "1m"])])
        _ = try await reconciler.runPass()
        var status = try #require(try store.object(claimKey)?.status)
        #expect(status.fields["phase"] == "Bound")
        #expect(status.condition(Condition.degraded)?.reason == "EnforcementUnavailable")
        let pool = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "p"))?.status)
        #expect(pool.fields["allocated"]?["cpu"] == "1")

        clock.advance(by: 30)
        _ = try await reconciler.runPass()
        #expect(try store.object(claimKey)?.status?.fields["phase"] == "Bound")

        clock.advance(by: 31)
        _ = try await reconciler.runPass()
        status = try #require(try store.object(claimKey)?.status)
        #expect(status.fields["phase"] == "Released")
        #expect(status.condition(Condition.ready)?.reason == "LeaseExpired")
        let freed = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "p"))?.status)
        #expect(freed.fields["allocated"]?["cpu"] == "0")
        #expect(try store.events(for: claimKey).map(\.reason).contains("LeaseExpired"))
    }

    /// A pool sized as shares of the host (`cores: 50%`) offers exact amounts resolved against discovery, shown in
    /// its status; claims are placed against them; shares of two pools together can still exceed the host.
    @Test func sharesOfTheHostResolveAgainstDiscovery() async throws {
        let directory = try TemporaryDirectory(prefix: "alloc-share")
        defer { directory.remove() }
        let discovery = try Self.fakeHost(in: directory, cpus: "0-3", memoryKilobytes: 8 << 20)
        let store = try StateStore(directory: directory.url.appendingPathComponent("state"))
        let reconciler = Self.allocating(store, on: discovery)
        let storagePath = directory.path + "/pool-storage"
        let poolKey = ResourceKey(kind: .resourcePool, name: "half")
        try store.apply([DesiredObject(key: poolKey, labels: [:], spec: [
            "privacy": "private", "cpu": ["cores": "50%", "maxPerClaim": "3"], "memory": ["size": "12.5%"],
            "storage": ["path": .string(storagePath), "size": "10%"],
        ])])
        _ = try await reconciler.runPass()
        let status = try #require(try store.object(poolKey)?.status)
        #expect(status.condition(Condition.ready)?.reason == "Available")
        #expect(status.fields["capacity"]?["cpu"] == "2")
        #expect(status.fields["capacity"]?["memory"] == "1Gi")
        let filesystem = try discovery.storage(at: storagePath).totalBytes
        let tenthInMiB = (filesystem / 10) >> 20
        #expect(status.fields["capacity"]?["storage"] == .string(Quantity(whole: tenthInMiB << 20)!.description))

        // maxPerClaim 3 is above the 2 cores the share resolved to: a claim of 2 binds, the pool is then full.
        func claim(_ name: String, cpu: String) -> DesiredObject { Self.claim(name, pool: "half", cpu: cpu) }
        try store.apply([claim("two", cpu: "2")])
        _ = try await reconciler.runPass()
        #expect(try store.object(ResourceKey(kind: .claim, name: "two"))?.status?.fields["phase"] == "Bound")
        try store.apply([claim("more", cpu: "500m")])
        _ = try await reconciler.runPass()
        let more = try #require(try store.object(ResourceKey(kind: .claim, name: "more"))?.status)
        #expect(more.condition(Condition.ready)?.reason == "InsufficientCapacity")

        // Another 60 % of the cores is more than the host has, together with the first half.
        try store.apply([Self.pool("greedy", cores: "60%", memory: "1Mi")])
        _ = try await reconciler.runPass()
        let greedy = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "greedy"))?.status)
        #expect(greedy.condition(Condition.degraded)?.message.contains("cpu 4400m > 4 usable cores") == true, "\(greedy.conditions)")
    }

    /// Claims waiting for capacity bind oldest first: a younger claim that would fit does not
    /// take what an older one waits for, whatever order the workers reach them in.
    @Test func olderWaitingClaimsComeFirst() async throws {
        let directory = try TemporaryDirectory(prefix: "alloc-fifo")
        defer { directory.remove() }
        let discovery = try Self.fakeHost(in: directory, cpus: "0-7", memoryKilobytes: 16 << 20)
        let store = try StateStore(directory: directory.url.appendingPathComponent("state"))
        let reconciler = Self.allocating(store, on: discovery)
        func claim(_ name: String, cpu: String) -> DesiredObject { Self.claim(name, pool: "p", cpu: cpu) }
        func phase(_ name: String) throws -> JSONValue? { try store.object(ResourceKey(kind: .claim, name: name))?.status?.fields["phase"] }
        try store.apply([Self.pool("p", cores: "4"), claim("holder", cpu: "2")])
        _ = try await reconciler.runPass()
        #expect(try phase("holder") == "Bound")
        // "wide" is made before "narrow" (whose name sorts first): it waits, and narrow, which
        // would fit in the 2 cores left, waits behind it.
        try store.apply([claim("wide", cpu: "3")])
        try await Task.sleep(for: .milliseconds(1100))  // creation times are whole seconds, as in kubectl
        try store.apply([claim("narrow", cpu: "1")])
        _ = try await reconciler.runPass()
        #expect(try phase("wide") == "Pending")
        let narrow = try #require(try store.object(ResourceKey(kind: .claim, name: "narrow"))?.status)
        #expect(narrow.fields["phase"] == "Pending")
        #expect(narrow.condition(Condition.ready)?.reason == "InsufficientCapacity")
        #expect(narrow.condition(Condition.ready)?.message.contains("claims waiting longer come first: wide") == true,
                "\(narrow.conditions)")

        try store.requestDeletion(of: [ResourceKey(kind: .claim, name: "holder")])
        _ = try await reconciler.runPass()
        _ = try await reconciler.runPass()
        #expect(try phase("wide") == "Bound")
        #expect(try phase("narrow") == "Bound")
    }

    /// Many claims reconciled at once for the last capacity: exactly one binds (a placement is
    /// stored before the next one is decided), and it is the oldest.
    @Test func concurrentClaimsNeverOverbook() async throws {
        let directory = try TemporaryDirectory(prefix: "alloc-race")
        defer { directory.remove() }
        let discovery = try Self.fakeHost(in: directory, cpus: "0-7", memoryKilobytes: 16 << 20)
        let store = try StateStore(directory: directory.url.appendingPathComponent("state"))
        try store.apply([Self.pool("p", cores: "1")])
        let reconciler = Self.allocating(store, on: discovery, workerCount: 8)
        _ = try await reconciler.runPass()
        let names = (0..<12).map { "c\($0)" }
        try store.apply(names.map { DesiredObject(key: ResourceKey(kind: .claim, name: $0), labels: [:], spec: ["pool": "p", "cpu": "1"]) })
        _ = try await reconciler.runPass()
        let bound = try store.objects(of: .claim).filter { $0.status?.fields["phase"] == "Bound" }.map(\.key.name)
        #expect(bound == ["c0"])
        let pool = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "p"))?.status)
        #expect(pool.fields["allocated"]?["cpu"] == "1")
    }

    @Test func privacyRulesFollowTheFiveLevels() {
        let me = String(repeating: "a", count: 64)
        let peer = String(repeating: "b", count: 64)
        #expect(PrivacyRule.permits(consumer: me, privacy: "private", allow: [], localNode: me))
        #expect(!PrivacyRule.permits(consumer: peer, privacy: "private", allow: [peer], localNode: me))
        #expect(PrivacyRule.permits(consumer: "group:family", privacy: "private-network", allow: ["group:family"], localNode: me))
        #expect(!PrivacyRule.permits(consumer: "group:work", privacy: "private-network", allow: ["group:family"], localNode: me))
        #expect(PrivacyRule.permits(consumer: peer, privacy: "p2p", allow: [peer], localNode: me))
        #expect(!PrivacyRule.permits(consumer: "group:family", privacy: "p2p", allow: ["group:family"], localNode: me))
        #expect(PrivacyRule.permits(consumer: peer, privacy: "public-network", allow: [], localNode: me))
        #expect(!PrivacyRule.permits(consumer: "group:any", privacy: "public-network", allow: [], localNode: me))
        #expect(PrivacyRule.permits(consumer: "group:any", privacy: "full-public", allow: [], localNode: me))
        #expect(!PrivacyRule.permits(consumer: me, privacy: "unknown", allow: [], localNode: me))
    }
}

/// GPU pools and claims on the Vulkan devices this machine has (lavapipe here).
struct GPUPoolTests {
    @Test func gpuPoolChecksDevicesAndClaimsGetABudget() async throws {
        let devices = try GPUDevices.discover()
        guard let device = devices.first else {
            print("skipped: no Vulkan device")
            return
        }
        let directory = try TemporaryDirectory(prefix: "gpu-pool")
        defer { directory.remove() }
        let store = try StateStore(directory: directory.url.appendingPathComponent("state"))
        let reconciler = Reconciler(store: store, controllers: [ResourcePoolController(), ClaimController(hierarchy: { .unavailable(reason: "test") })],
                                    logger: Logger(label: "t"))
        let budget = Quantity(whole: device.memoryBytes / 2)!
        try store.apply([
            DesiredObject(key: ResourceKey(kind: .resourcePool, name: "gpus"), labels: [:],
                          spec: ["privacy": "private", "gpu": ["devices": [.string(device.uuid)], "memory": .string(budget.description)]]),
            DesiredObject(key: ResourceKey(kind: .resourcePool, name: "ghost"), labels: [:],
                          spec: ["privacy": "private", "gpu": ["devices": ["99"]]]),
            DesiredObject(key: ResourceKey(kind: .claim, name: "render"), labels: [:],
                          spec: ["pool": "gpus", "gpu": ["count": 1, "memory": .string(budget.description)]]),
            DesiredObject(key: ResourceKey(kind: .claim, name: "second"), labels: [:],
                          spec: ["pool": "gpus", "gpu": ["memory": "1Mi"]]),
        ])
        _ = try await reconciler.runPass()
        let pool = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "gpus"))?.status)
        #expect(pool.condition(Condition.ready)?.reason == "Available", "\(pool.conditions)")
        #expect(pool.fields["gpus"]?.arrayValue?.first?["healthy"] == true)
        let ghost = try #require(try store.object(ResourceKey(kind: .resourcePool, name: "ghost"))?.status)
        #expect(ghost.condition(Condition.ready)?.reason == "GPUUnavailable")
        let claim = try #require(try store.object(ResourceKey(kind: .claim, name: "render"))?.status)
        #expect(claim.fields["phase"] == "Bound")
        #expect(claim.fields["gpuDevices"] == [.string(device.uuid)])
        let second = try #require(try store.object(ResourceKey(kind: .claim, name: "second"))?.status)
        #expect(second.condition(Condition.ready)?.reason == "InsufficientCapacity", "\(second)")
    }
}
