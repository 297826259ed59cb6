// swift-tools-version: 6.1
// Benchmarks live in their own package so their dependencies do not slow the main build.
// Run: `make benchmarks` (or `swift package benchmark` in this folder).
import PackageDescription

let package = Package(
    name: "HyperMeshBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "hypermesh", path: ".."),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // What the STOQ and mirror benchmarks set up alike.
        .target(
            name: "BenchmarkLab",
            dependencies: [
                .product(name: "STOQ", package: "hypermesh"),
                .product(name: "TrustChain", package: "hypermesh"),
            ],
            path: "Support/BenchmarkLab"
        ),
        .executableTarget(
            name: "SpecAndStore",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HyperMeshCore", package: "hypermesh"),
                .product(name: "HyperMeshSpec", package: "hypermesh"),
                .product(name: "HyperMeshStore", package: "hypermesh"),
                .product(name: "HyperMeshCommands", package: "hypermesh"),
            ],
            path: "Benchmarks/SpecAndStore",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TrustChainBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HyperMeshCore", package: "hypermesh"),
                .product(name: "TrustChain", package: "hypermesh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/TrustChainBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "AssetBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HyperMeshCore", package: "hypermesh"),
                .product(name: "HyperMeshAssets", package: "hypermesh"),
            ],
            path: "Benchmarks/AssetBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "STOQDataBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "STOQData", package: "hypermesh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/STOQDataBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ConsensusBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HyperMeshConsensus", package: "hypermesh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/ConsensusBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EndToEndBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/EndToEndBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MeshBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/MeshBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "STOQBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "BenchmarkLab",
                .product(name: "STOQ", package: "hypermesh"),
                .product(name: "TrustChain", package: "hypermesh"),
            ],
            path: "Benchmarks/STOQBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "WorkloadBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/WorkloadBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MirrorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "BenchmarkLab",
                .product(name: "STOQData", package: "hypermesh"),
                .product(name: "STOQ", package: "hypermesh"),
                .product(name: "TrustChain", package: "hypermesh"),
            ],
            path: "Benchmarks/MirrorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
