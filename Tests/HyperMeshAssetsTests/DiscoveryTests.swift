import Foundation
import HyperMeshAssets
import HyperMeshCore
import HyperMeshTestSupport
import Testing

struct DiscoveryTests {
    func shell(_ command: String) throws -> String {
        try ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", command]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func assetsJSONEqualsWhatTheSystemTools() throws {
        let directory = try TemporaryDirectory(prefix: "assets")
        defer { directory.remove() }
        let result = try ProcessRunner.run(PackageLayout.binary, ["assets", "--path", directory.path, "-o", "json"])
        try #require(result.status == 0, "\(result.standardError)")
        let json = try JSONValue(parsingJSON: result.standardOutput)
        #expect(json.value(atPath: "cpu.online") == .integer(try #require(Int64(try shell("nproc --all")))))
        let total = try #require(Int64(try shell("python3 -c \"print([int(l.split()[1]) * 1024 for l in open('/proc/meminfo') if l.startswith('MemTotal:')][0])\"")))
        #expect(json.value(atPath: "memory.totalBytes") == .integer(total))
        let available = json.value(atPath: "memory.availableBytes")?.integerValue ?? 0
        #expect(available > 0 && available <= total)
        let statvfs = try shell("python3 -c \"import os; s=os.statvfs('\(directory.path)'); print(s.f_blocks*s.f_frsize)\"")
        #expect(json.value(atPath: "storage[0].totalBytes") == .integer(try #require(Int64(statvfs))))
        let model = try shell("awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo")
        if !model.isEmpty { #expect(json.value(atPath: "cpu.model") == .string(model)) }
        #expect(["v1", "v2", "none"].contains(json.value(atPath: "cgroups.version")?.stringValue ?? ""))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/vulkaninfo") {
            let summary = try shell("vulkaninfo --summary 2>/dev/null | awk -F'= ' '/deviceName/ {print $2}'")
            let names = json["gpus"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.joined(separator: "\n") == summary)
            let types = try shell("vulkaninfo --summary 2>/dev/null | awk -F'= ' '/deviceType/ {print $2}'")
            let expected = json["gpus"]?.arrayValue?.compactMap { $0["type"]?.stringValue }.map {
                "PHYSICAL_DEVICE_TYPE_" + ($0 == "cpu" ? "CPU" : $0 == "discrete" ? "DISCRETE_GPU" : $0 == "integrated" ? "INTEGRATED_GPU"
                    : $0 == "virtual" ? "VIRTUAL_GPU" : "OTHER")
            } ?? []
            #expect(expected.joined(separator: "\n") == types)
            let heap = try shell("vulkaninfo 2>/dev/null | awk '/memoryHeaps\\[0\\]/ {getline; print $3; exit}'")
            if let first = json.value(atPath: "gpus[0].heaps[0].bytes")?.integerValue, let parsed = Int64(heap) {
                #expect(first == parsed)
            }
        } else {
            print("skipped GPU comparison: vulkaninfo is not installed")
        }
        let table = try ProcessRunner.run(PackageLayout.binary, ["assets", "--path", directory.path])
        #expect(table.standardOutput.hasPrefix("ASSET"))
    }

    @Test func parsesCPUListsAndRefusesBadOnes() throws {
        #expect(try HostDiscovery.parseCPUList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(try HostDiscovery.parseCPUList("0") == [0])
        for bad in ["", "a", "3-1", "1-", "-1", "0-999999", "1,,2"] {
            #expect(throws: HyperMeshError.corruptData(), "\(bad)") { try HostDiscovery.parseCPUList(bad) }
        }
    }

    @Test func parsesMeminfoAndCPULimits() throws {
        let facts = try HostDiscovery.parseMeminfo("MemTotal:       16384 kB\nMemFree: 1 kB\nMemAvailable:    8192 kB\n")
        #expect(facts == MemoryFacts(totalBytes: 16384 * 1024, availableBytes: 8192 * 1024))
        #expect(throws: HyperMeshError.corruptData()) { try HostDiscovery.parseMeminfo("MemTotal: 5 kB\n") }
        #expect(try HostDiscovery.parseCPUMax("max 100000\n") == nil)
        #expect(try HostDiscovery.parseCPUMax("50000 100000\n") == Quantity(milliValue: 500))
        #expect(throws: HyperMeshError.corruptData()) { try HostDiscovery.parseCPUMax("50000") }
        #expect(throws: HyperMeshError.corruptData()) { try HostDiscovery.parseCPUMax("lots 100000") }
        #expect(try HostDiscovery.parseCFS(quota: "-1\n", period: "100000\n") == nil)
        #expect(try HostDiscovery.parseCFS(quota: "150000", period: "100000") == Quantity(milliValue: 1500))
        #expect(throws: HyperMeshError.corruptData()) { try HostDiscovery.parseCFS(quota: "x", period: "100000") }
    }

    @Test func readsCgroupMembershipAndFiles() throws {
        let membership = try CgroupMembership.parse("12:cpu,cpuacct:/a\n4:memory:/b\n1:name=systemd:/\n0::/user.slice\n")
        #expect(membership.unifiedPath == "/user.slice")
        #expect(membership.v1Paths["cpu"] == "/a" && membership.v1Paths["cpuacct"] == "/a" && membership.v1Paths["memory"] == "/b")
        #expect(throws: HyperMeshError.corruptData()) { try CgroupMembership.parse("garbage\n") }
        #expect(try CgroupFiles.keyedValues("nr_periods 10\nnr_throttled 3\nunder_oom 0\n") == ["nr_periods": 10, "nr_throttled": 3, "under_oom": 0])
        #expect(throws: HyperMeshError.corruptData()) { try CgroupFiles.keyedValues("oom_kill many\n") }
        #expect(try CgroupFiles.integer("4096\n") == 4096)
        #expect(throws: HyperMeshError.corruptData()) { try CgroupFiles.integer("max\n") }
        #expect(throws: HyperMeshError.io()) { try CgroupFiles.read("/nonexistent/cpu.stat") }
    }

    @Test func detectsTheHierarchyAHostOffers() {
        let systemd = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"
        #expect(CgroupHierarchy.detect(mountsText: systemd, controllersOf: { _ in "cpuset cpu io memory pids" }) == .v2(root: "/sys/fs/cgroup"))
        let hybrid = """
            tmpfs /sys/fs/cgroup tmpfs rw 0 0
            cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
            cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
            cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
            cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
            cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
            """
        #expect(CgroupHierarchy.detect(mountsText: hybrid, controllersOf: { _ in "hugetlb" }) == .v1(mounts: [
            "cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
        ]))
        #expect(CgroupHierarchy.detect(mountsText: "proc /proc proc rw 0 0\n") == .unavailable(reason: "no cgroup filesystem is mounted"))
        if case .unavailable = CgroupHierarchy.detect(mountsText: "cgroup /c cgroup rw,cpu 0 0\n") {} else {
            Issue.record("cpu alone is not enough")
        }
    }
}
