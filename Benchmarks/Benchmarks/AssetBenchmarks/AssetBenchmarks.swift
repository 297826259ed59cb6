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
        // The closure runs once per sample; pools are removed in teardown, after all samples.
        Benchmark("Allocate and release a claim, mkdir and rmdir (cgroup \(hierarchy.name) writes included)",
                  configuration: .init(teardown: { ControlGroup.removePool("bench", hierarchy: hierarchy) })) { benchmark in
            for iteration in benchmark.scaledIterations {
                let group = ControlGroup.forClaim("bench-\(iteration % 4)", pool: "bench", hierarchy: hierarchy)
                try group.create(limits: limits)
                try group.remove()
            }
        }

        // What the CPU and memory adapters do: adopt a spare group, write limits, retire it again.
        Benchmark("Allocate and release a claim through the adapters (cgroup \(hierarchy.name), spare groups)",
                  configuration: .init(teardown: { ControlGroup.removePool("bench-adapters", hierarchy: hierarchy) })) { benchmark in
            let cpu = CPUAdapter(hierarchy: hierarchy)
            let memory = MemoryAdapter(hierarchy: hierarchy)
            for iteration in benchmark.scaledIterations {
                let claim = "claim-\(iteration % 8)-\(UInt32.random(in: 0...UInt32.max))"
                let cpuRequest = AssetRequest(pool: "bench-adapters", claim: claim, amount: Quantity(milliValue: 500))
                let memoryRequest = AssetRequest(pool: "bench-adapters", claim: claim, amount: Quantity(whole: 128 << 20)!)
                blackHole(try cpu.allocate(cpuRequest))
                blackHole(try memory.allocate(memoryRequest))
                try cpu.release(cpuRequest)
                try memory.release(memoryRequest)
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
