import Benchmark
import Foundation
import HyperMeshAssets
import HyperMeshCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal], maxDuration: .seconds(10), maxIterations: 10_000)

    // One allocation and release of a claim's cgroups on this host's real hierarchy (v1 here:
    // four controller directories, quota, period, memory limit, pids), as the Claim controller does.
    let hierarchy = CgroupHierarchy.detectHost()
    if geteuid() == 0, hierarchy.name != "none" {
        let limits = ResourceLimits(cpu: Quantity(milliValue: 500), memoryBytes: 128 << 20, maximumProcesses: 64)
        Benchmark("Allocate and release a claim (cgroup \(hierarchy.name) writes included)") { benchmark in
            defer { ControlGroup.removePool("bench", hierarchy: hierarchy) }
            for iteration in benchmark.scaledIterations {
                let group = ControlGroup.forClaim("bench-\(iteration % 4)", pool: "bench", hierarchy: hierarchy)
                try group.create(limits: limits)
                try group.remove()
            }
        }
    }

    Benchmark("Discover the host (CPU, memory, storage)") { benchmark in
        let discovery = HostDiscovery()
        for _ in benchmark.scaledIterations {
            blackHole(try discovery.cpu())
            blackHole(try discovery.memory())
            blackHole(try discovery.storage(at: "/tmp"))
        }
    }
}
