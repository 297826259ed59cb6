import Benchmark
import Foundation
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec
import HyperMeshStore

/// Documents like a user's: pools and claims with quantities, labels and durations.
func makeSpecs(count: Int, variant: String = "") -> String {
    var text = ""
    text.reserveCapacity(count * 260)
    for index in 0..<count {
        if index % 4 == 0 {
            text += """
                ---
                apiVersion: hypermesh/v1
                kind: ResourcePool
                metadata:
                  name: pool-\(index)
                  labels: {team: t\(index % 10)\(variant)}
                spec:
                  privacy: p2p
                  allow: [group:family]
                  cpu: {cores: 8, maxPerClaim: 2}
                  memory: {size: 32Gi, maxPerClaim: 4Gi}
                  storage: {path: /srv/pools/pool-\(index), size: 500Gi}

                """
        } else {
            text += """
                ---
                apiVersion: hypermesh/v1
                kind: Claim
                metadata:
                  name: claim-\(index)
                  labels: {app: batch}
                spec:
                  pool: pool-\(index / 4 * 4)
                  cpu: 1500m
                  memory: 2Gi
                  duration: 24h

                """
        }
    }
    return text
}

func temporaryStateDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("hypermesh-bench-\(UUID().uuidString)")
}

func decodeOrFail(_ text: String) -> [DesiredObject] {
    let result = SpecDecoder().decode([SpecInput(displayPath: "bench.yaml", text: text)])
    precondition(result.isValid, "benchmark specs must be valid: \(result.diagnostics.prefix(3))")
    return result.documents.map(\.desired)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
                                           maxDuration: .seconds(20), maxIterations: 20)

    let thousand = makeSpecs(count: 1000)
    Benchmark("Decode and validate 1,000 documents") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SpecDecoder().decode([SpecInput(displayPath: "bench.yaml", text: thousand)]))
        }
    }

    let tenThousand = makeSpecs(count: 10_000)
    Benchmark("Apply 10,000 objects into a fresh state (parse, validate, store)",
              configuration: .init(maxDuration: .seconds(60), maxIterations: 5)) { benchmark in
        let directory = temporaryStateDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try StateStore(directory: directory)
        benchmark.startMeasurement()
        let changes = try store.apply(decodeOrFail(tenThousand))
        benchmark.stopMeasurement()
        precondition(changes.count == 10_000 && changes.allSatisfy { $0.action == .created })
    }

    let reapplyDirectory = temporaryStateDirectory()
    Benchmark("No-op re-apply of 1,000 objects (parse, validate, compare)",
              configuration: .init(setup: {
                  let store = try StateStore(directory: reapplyDirectory)
                  _ = try store.apply(decodeOrFail(thousand))
              }, teardown: {
                  try? FileManager.default.removeItem(at: reapplyDirectory)
              })) { benchmark in
        let store = try StateStore(directory: reapplyDirectory)
        for _ in benchmark.scaledIterations {
            let changes = try store.apply(decodeOrFail(thousand))
            precondition(changes.allSatisfy { $0.action == .unchanged })
        }
    }
}
