import Foundation
import Testing
@testable import HyperMeshConsensus

/// Validator set changes under the simulator's faults: every honest validator's chain a prefix of the longest,
/// every operation committed by the last epoch's validators, every epoch reached.
struct ReconfigurationTests {
    /// The reports of `seeds` that fail, computed on a thread of their own.
    static func failingSeeds(_ seeds: ClosedRange<UInt64>, validators: Int, byzantine: Int, steps: [[Int]],
                             faults: Bool = true) async -> [String] {
        await withCheckedContinuation { continuation in
            Thread {
                var failures: [String] = []
                for seed in seeds {
                    var configuration = SimulationTests.configuration(seed: seed, validators: validators, byzantine: byzantine)
                    configuration.reconfigurations = steps
                    if !faults {
                        configuration.drop = 0
                        configuration.duplicate = 0
                        configuration.partition = false
                        configuration.crashes = false
                    }
                    // The report checks that the last epoch's validators that are up reached it and hold everything.
                    let report = Simulator(configuration: configuration).run()
                    if !report.passed { failures.append(report.text) }
                }
                continuation.resume(returning: failures)
            }.start()
        }
    }

    /// 1 → 2 → 3 → 4 → 3 validators, one added (or removed) per committed reconfiguration, as `mesh token
    /// --validator` and `mesh remove` do it.
    @Test func growingFromOneToFourAndShrinkingToThreeIsSafeAndLive() async {
        let failures = await Self.failingSeeds(1...200, validators: 1, byzantine: 0, steps: [[0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 3]])
        #expect(failures.isEmpty, "\(failures.count) failing seeds, first:\n\(failures.first?.prefix(3000) ?? "")")
    }

    /// Four validators with a byzantine one: a fifth joins, then the byzantine one is removed.
    @Test func replacingAByzantineValidatorIsSafeAndLive() async {
        let failures = await Self.failingSeeds(1...300, validators: 4, byzantine: 1, steps: [[0, 1, 2, 3, 4], [0, 1, 2, 4]])
        #expect(failures.isEmpty, "\(failures.count) failing seeds, first:\n\(failures.first?.prefix(3000) ?? "")")
    }
}

