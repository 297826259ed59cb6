import Benchmark
import Foundation
import HyperMeshConsensus

// Ordering throughput of chained HotStuff with 4 validators in one process (the simulator with no faults),
// and the cost of making and checking each proof type.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(20), maxIterations: 10)

    Benchmark("HotStuff: 10,000 operations made, ordered and applied by 4 validators (simulated network)",
              configuration: .init(metrics: [.wallClock], scalingFactor: .kilo)) { benchmark in
        var configuration = SimulationConfiguration()
        configuration.validators = 4
        configuration.byzantine = 0
        configuration.operations = 10_000
        configuration.faultsEndMilliseconds = 100
        configuration.seed = 1
        benchmark.startMeasurement()
        let report = Simulator(configuration: configuration).run()
        benchmark.stopMeasurement()
        precondition(report.passed && report.committedOperations == 10_000)
    }

    let digest = ConsensusHash.of(Array("operation".utf8))
    Benchmark("PoWork: solve 16 bits") { benchmark in
        for start in benchmark.scaledIterations { blackHole(WorkProof.solve(digest: digest, bits: 16, start: UInt64(start) << 32)) }
    }
    let proof = WorkProof.solve(digest: digest, bits: 16)
    Benchmark("PoWork: verify", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(proof.verify(digest: digest, bits: 16)) }
    }
    var chain = HistoryChain(seed: digest, checkpointInterval: 10_000)
    chain.advance(by: 200_000)
    Benchmark("PoTime: verify 200,000 ticks (20 checkpoint spans, in parallel)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(HistoryChain.verify(seed: digest, checkpoints: chain.checkpoints, interval: 10_000))
        }
    }
    let signer = Ed25519Signer(participants: 1)
    let signature = signer.sign(digest.bytes, as: 0)
    Benchmark("PoStake: Ed25519 sign", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(signer.sign(digest.bytes, as: 0)) }
    }
    Benchmark("PoStake: Ed25519 verify", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(signer.verify(signature, of: digest.bytes, by: 0)) }
    }

    // PoSpace's deadline argument: answering from the plot vs. recomputing it (a prover without the data).
    let plotPath = NSTemporaryDirectory() + "consensus-bench-plot-\(getpid())"
    let plotConfiguration = (leaves: 1 << 14, rounds: 1000)
    Benchmark("PoSpace: create a plot of 16,384 leaves × 1,000 rounds (what a prover without it must redo)",
              configuration: .init(metrics: [.wallClock], maxIterations: 3)) { benchmark in
        benchmark.startMeasurement()
        blackHole(try SpacePlot.create(at: plotPath, nodeID: Array("node".utf8), seed: digest, leafCount: plotConfiguration.leaves,
                                       rounds: plotConfiguration.rounds))
        benchmark.stopMeasurement()
    }
    Benchmark("PoSpace: answer 16 challenges from the plot on disk", configuration: .init(metrics: [.wallClock])) { benchmark in
        let plot = try SpacePlot.create(at: plotPath + "-answer", nodeID: Array("node".utf8), seed: digest, leafCount: 1 << 10,
                                        rounds: plotConfiguration.rounds)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try plot.prove(challenge: digest, count: 16)) }
        benchmark.stopMeasurement()
    }
}
