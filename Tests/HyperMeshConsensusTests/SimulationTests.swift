import Foundation
import Testing
@testable import HyperMeshConsensus

struct SimulationTests {
    static func configuration(seed: UInt64, validators: Int = 4, byzantine: Int = 1) -> SimulationConfiguration {
        var configuration = SimulationConfiguration()
        configuration.seed = seed
        configuration.validators = validators
        configuration.byzantine = byzantine
        configuration.operations = 24
        configuration.drop = 0.1
        configuration.duplicate = 0.05
        configuration.partition = seed % 2 == 0
        configuration.crashes = seed % 3 == 0
        configuration.faultsEndMilliseconds = 2_000
        configuration.workBits = 2
        return configuration
    }

    /// The reports of seeds 1…1000 that fail, computed on a thread of their own: a minute of simulation
    /// must not hold one of the few threads that every async test in this process shares.
    static func failingSeeds(validators: Int, byzantine: Int) async -> [String] {
        await withCheckedContinuation { continuation in
            Thread {
                var failures: [String] = []
                for seed in 1...1000 as ClosedRange<UInt64> {
                    let report = Simulator(configuration: Self.configuration(seed: seed, validators: validators, byzantine: byzantine)).run()
                    if !report.passed { failures.append(report.text) }
                }
                continuation.resume(returning: failures)
            }.start()
        }
    }

    @Test func aThousandSeedsWithOneByzantineOfFourAreSafeAndLive() async {
        let failures = await Self.failingSeeds(validators: 4, byzantine: 1)
        #expect(failures.isEmpty, "\(failures.count) failing seeds, first:\n\(failures.first ?? "")")
    }

    @Test func aThousandSeedsWithTwoByzantineOfSevenAreSafeAndLive() async {
        let failures = await Self.failingSeeds(validators: 7, byzantine: 2)
        #expect(failures.isEmpty, "\(failures.count) failing seeds, first:\n\(failures.first ?? "")")
    }

    @Test func theSameSeedGivesTheSameReportByteForByte() {
        let first = Simulator(configuration: Self.configuration(seed: 77)).run().text
        let second = Simulator(configuration: Self.configuration(seed: 77)).run().text
        #expect(first == second)
        #expect(first != Simulator(configuration: Self.configuration(seed: 78)).run().text)
    }

    /// Proof that the checker can fail: with the commit rule broken (commit on voting, or on a single
    /// certificate instead of a three-chain), an equivocating leader gets the two halves of the validators to
    /// commit different blocks at one height, and the checker must say so.
    @Test(arguments: [ReplicaConfiguration.BrokenRule.commitOnVote, .oneChainCommit])
    func breakingTheCommitRuleIsCaughtByTheChecker(_ rule: ReplicaConfiguration.BrokenRule) {
        var caught: [UInt64] = []
        for seed in 1...300 as ClosedRange<UInt64> {
            var configuration = Self.configuration(seed: seed)
            configuration.byzantineBehaviors = [.equivocate]
            configuration.brokenRule = rule
            // Only safety is in question; a broken protocol need not be given long to show it.
            configuration.endMilliseconds = 4_000
            let report = Simulator(configuration: configuration).run()
            if !report.safetyViolations.isEmpty { caught.append(seed) }
            if !caught.isEmpty { break }
        }
        #expect(!caught.isEmpty, "no seed of 300 exposed the broken \(rule.rawValue) rule")
    }
}
