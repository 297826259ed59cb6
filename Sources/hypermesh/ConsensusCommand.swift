import ArgumentParser
import Foundation
import HyperMeshConsensus

struct ConsensusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consensus",
        abstract: "The BFT ledger: chained HotStuff among validators, and its deterministic simulator.",
        subcommands: [ConsensusValidatorCommand.self, ConsensusSubmitCommand.self, ConsensusLedgerCommand.self,
                      ConsensusPlotCommand.self, ConsensusSimCommand.self]
    )
}

extension ReplicaConfiguration.BrokenRule: ExpressibleByArgument {}

struct ConsensusSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run validators, clients and a faulty network on a seeded clock; check safety and liveness.",
        discussion: """
            Exit status 0 when every run is safe and live, 1 on any violation (the report names the seed to
            replay). The same seed prints the same report, byte for byte.

            Examples:
              hypermesh consensus sim --validators 4 --byzantine 1 --seed 7 --ops 100 --drop 0.1 --partition
              hypermesh consensus sim --validators 7 --byzantine 2 --seed 1 --seeds 500
              hypermesh consensus sim --seed 3 --break-rule lock     # the checker must catch this
            """)

    @Option(help: "Validators, n = 3f + 1.") var validators = 4
    @Option(help: "Byzantine validators (at most f).") var byzantine = 1
    @Option(help: "Seed of the first run.") var seed: UInt64 = 1
    @Option(help: "Runs, with seeds SEED, SEED+1, …") var seeds = 1
    @Option(help: "Operations the clients submit.") var ops = 100
    @Option(help: "Probability a message is lost while faults last.") var drop = 0.0
    @Option(help: "Probability a message is delivered twice while faults last.") var duplicate = 0.0
    @Flag(help: "Partition the validators for a while (it heals).") var partition = false
    @Flag(help: "Crash an honest validator and restart it from its stored state.") var crashes = false
    @Option(help: ArgumentHelp("Cut these validators off from the others until the faults end (comma-separated).",
                               valueName: "LIST"))
    var isolate: String?
    @Option(help: "When the faults end, in simulated milliseconds.") var faultsEnd: UInt64 = 5_000
    @Option(help: "Byzantine behaviours to draw from (comma-separated): \(Replica.Behavior.allCases.filter { $0 != .honest }.map(\.rawValue).joined(separator: ", ")).")
    var behaviors: String?
    @Option(help: "Break a safety rule on purpose: lock, quorum, commit (one-chain) or vote (commit on voting).") var breakRule: ReplicaConfiguration.BrokenRule?
    @Flag(help: "Print only failing runs and the summary.") var quiet = false
    @Flag(help: "Print every simulated event (to replay a failing seed).") var trace = false

    func validate() throws {
        guard self.validators >= 1 else { throw ValidationError("--validators must be at least 1") }
        guard self.byzantine >= 0, self.byzantine * 3 < self.validators || self.breakRule != nil || self.byzantine == 0 else {
            throw ValidationError("--byzantine must be at most f = \((self.validators - 1) / 3) for \(self.validators) validators")
        }
        guard (0...1).contains(self.drop), (0...1).contains(self.duplicate) else {
            throw ValidationError("--drop and --duplicate are probabilities from 0 to 1")
        }
        guard self.seeds >= 1, self.ops >= 0 else { throw ValidationError("--seeds must be at least 1 and --ops at least 0") }
    }

    func run() throws {
        var failed: [UInt64] = []
        for offset in 0..<UInt64(self.seeds) {
            var configuration = SimulationConfiguration()
            configuration.validators = self.validators
            configuration.byzantine = self.byzantine
            configuration.seed = self.seed + offset
            configuration.operations = self.ops
            configuration.drop = self.drop
            configuration.duplicate = self.duplicate
            configuration.partition = self.partition
            configuration.crashes = self.crashes
            configuration.brokenRule = self.breakRule
            configuration.trace = self.trace
            configuration.faultsEndMilliseconds = self.faultsEnd
            configuration.isolatedSide = try self.isolate.map { text in
                try text.split(separator: ",").map { item in
                    guard let index = Int(item), (0..<self.validators).contains(index) else {
                        throw ValidationError("--isolate: \(item) is not a validator index")
                    }
                    return index
                }
            }
            if let behaviors {
                configuration.byzantineBehaviors = try behaviors.split(separator: ",").map { name in
                    guard let behavior = Replica.Behavior(rawValue: String(name)), behavior != .honest else {
                        throw ValidationError("--behaviors: unknown behaviour \(name)")
                    }
                    return behavior
                }
            }
            let report = Simulator(configuration: configuration).run()
            if !report.passed { failed.append(configuration.seed) }
            if !self.quiet || !report.passed { Output.line(report.text) }
            for line in report.trace { Output.line(line) }
        }
        if self.seeds > 1 { Output.line("\(self.seeds - failed.count)/\(self.seeds) runs safe and live") }
        if let first = failed.first {
            Output.error("\(failed.count) run(s) violated safety or liveness; replay with --seed \(first) --seeds 1")
            throw ExitCode(1)
        }
    }
}
