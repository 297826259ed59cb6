// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "hypermesh",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hypermesh", targets: ["hypermesh"]),
        .executable(name: "hypermesh-shim", targets: ["hypermesh-shim"]),
        .library(name: "HyperMeshCore", targets: ["HyperMeshCore"]),
        .library(name: "HyperMeshSpec", targets: ["HyperMeshSpec"]),
        .library(name: "HyperMeshStore", targets: ["HyperMeshStore"]),
        .library(name: "HyperMeshReconciler", targets: ["HyperMeshReconciler"]),
        .library(name: "HyperMeshControllers", targets: ["HyperMeshControllers"]),
        .library(name: "TrustChain", targets: ["TrustChain"]),
        .library(name: "HyperMeshAssets", targets: ["HyperMeshAssets"]),
        .library(name: "STOQData", targets: ["STOQData"]),
        .library(name: "STOQ", targets: ["STOQ"]),
        .library(name: "HyperMeshAgent", targets: ["HyperMeshAgent"]),
        .library(name: "HyperMeshConsensus", targets: ["HyperMeshConsensus"]),
        .library(name: "HyperMeshValidator", targets: ["HyperMeshValidator"]),
        .library(name: "HyperMeshCommands", targets: ["HyperMeshCommands"]),
        .library(name: "HyperMeshMembership", targets: ["HyperMeshMembership"]),
        .library(name: "HyperMeshContainers", targets: ["HyperMeshContainers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // Hummingbird's default traits pull in swift-configuration; none are needed, and SwiftPM 6.3
        // rebuilds a package with default traits on every build.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0", traits: []),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
    ],
    targets: [
        .target(name: "HyperMeshCore"),
        .target(
            name: "HyperMeshSpec",
            dependencies: ["HyperMeshCore", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "HyperMeshStore",
            dependencies: ["HyperMeshCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "HyperMeshReconciler",
            dependencies: [
                "HyperMeshCore", "HyperMeshStore", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // What this machine has, and kernel enforcement of what a claim gets (cgroup v1 and v2).
        .target(name: "HyperMeshAssets", dependencies: ["HyperMeshCore", "CVulkan"], exclude: ["GPU/Shaders"]),
        // The Vulkan loader (libvulkan), with a small C layer for discovery and the compute health check.
        .target(name: "CVulkan", linkerSettings: [.linkedLibrary("vulkan")]),
        // OCI images (import, verified blobs, the unpacked layer cache) and containers run by crun beside a shim.
        .target(name: "HyperMeshContainers", dependencies: [
            "HyperMeshCore", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The process beside each container (conmon's job): stdio to a rotated log and journald, the exit status
        // to a file. C, single-threaded: it enters a mount namespace with setns and costs about 1 MB per container.
        .executableTarget(name: "hypermesh-shim"),
        // The data plane: content-defined chunks, content addressing (erasure coding and seeding to come).
        // FastCDC's inner loop (x86-64 assembly, C elsewhere).
        .target(name: "CFastCDC"),
        .target(name: "STOQData", dependencies: [
            "HyperMeshCore", "CISAL", "CFastCDC", "STOQ", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
        ]),
        // The transport between agents: QUIC (ngtcp2) with mutual TLS from TrustChain certificates.
        .target(name: "STOQ", dependencies: [
            "HyperMeshCore", "CNGTCP2", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Joining a mesh: join tokens, the CA's answer to `hm-join/1` calls, the joiner's pinned-root checks.
        .target(name: "HyperMeshMembership", dependencies: [
            "HyperMeshCore", "TrustChain", "STOQ", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // `hypermesh agent`: continuous reconcile under systemd, local API, GitOps watch, HTTP health and metrics.
        .target(
            name: "HyperMeshAgent",
            dependencies: [
                "HyperMeshCore", "HyperMeshSpec", "HyperMeshStore", "HyperMeshReconciler", "HyperMeshControllers",
                "HyperMeshCommands", "CSystemd", "STOQ", "STOQData", "HyperMeshMembership", "TrustChain", "HyperMeshValidator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The four proofs, chained HotStuff, the ledger state machine and the deterministic simulator.
        .target(name: "HyperMeshConsensus", dependencies: [
            "HyperMeshCore", "TrustChain", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"), .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // A validator process: the replica, its ledger file, and STOQ between validators.
        .target(name: "HyperMeshValidator", dependencies: [
            "HyperMeshCore", "HyperMeshConsensus", "STOQ", .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // libsystemd: sd_notify and the watchdog.
        .systemLibrary(name: "CSystemd"),
        // ngtcp2 1.11, ngtcp2_crypto_gnutls and GnuTLS, with a shim for ngtcp2's macro API.
        .systemLibrary(name: "CNGTCP2"),
        // Intel ISA-L (libisal), Reed–Solomon erasure coding.
        .systemLibrary(name: "CISAL"),
        // The mesh's certificate authority: issuance, revocation, transparency log, chain verification.
        .target(
            name: "TrustChain",
            dependencies: [
                "HyperMeshCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "HyperMeshControllers",
            dependencies: [
                "HyperMeshCore", "HyperMeshSpec", "HyperMeshStore", "HyperMeshReconciler", "TrustChain", "HyperMeshAssets",
                "STOQData", "STOQ", "HyperMeshConsensus", "HyperMeshContainers", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What each command does, kept apart from argument parsing so tests and benchmarks can call it.
        .target(
            name: "HyperMeshCommands",
            dependencies: [
                "HyperMeshCore", "HyperMeshSpec", "HyperMeshStore", "HyperMeshReconciler", "HyperMeshControllers",
                "TrustChain",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "hypermesh",
            dependencies: [
                "HyperMeshCore", "HyperMeshCommands", "HyperMeshControllers", "TrustChain", "HyperMeshAssets", "STOQ", "HyperMeshAgent", "HyperMeshConsensus",
                "HyperMeshValidator", "STOQData", "HyperMeshMembership", "HyperMeshContainers",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "HyperMeshTestSupport",
            dependencies: ["HyperMeshCore"],
            path: "Tests/HyperMeshTestSupport"
        ),
        .testTarget(name: "HyperMeshCoreTests", dependencies: ["HyperMeshCore"]),
        .testTarget(
            name: "HyperMeshSpecTests",
            dependencies: ["HyperMeshSpec", "HyperMeshTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "HyperMeshStoreTests", dependencies: ["HyperMeshStore", "HyperMeshTestSupport"]),
        .testTarget(
            name: "HyperMeshReconcilerTests",
            dependencies: ["HyperMeshReconciler", "HyperMeshStore", "HyperMeshTestSupport"]
        ),
        .testTarget(
            name: "HyperMeshControllersTests",
            dependencies: ["HyperMeshControllers", "TrustChain", "HyperMeshAssets", "HyperMeshTestSupport"]
        ),
        .testTarget(name: "HyperMeshAgentTests", dependencies: ["HyperMeshAgent", "HyperMeshStore", "HyperMeshTestSupport"]),
        .testTarget(name: "HyperMeshConsensusTests", dependencies: ["HyperMeshConsensus", "TrustChain", "HyperMeshTestSupport"]),
        .testTarget(name: "HyperMeshValidatorTests", dependencies: ["HyperMeshValidator", "TrustChain", "HyperMeshTestSupport"]),
        .testTarget(name: "STOQTests", dependencies: ["STOQ", "STOQData", "TrustChain", "HyperMeshTestSupport"]),
        .testTarget(name: "HyperMeshMembershipTests", dependencies: ["HyperMeshMembership", "TrustChain", "STOQ", "HyperMeshTestSupport", .product(name: "X509", package: "swift-certificates")]),
        .testTarget(name: "STOQDataTests", dependencies: ["STOQData", "HyperMeshTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HyperMeshContainersTests", dependencies: ["HyperMeshContainers", "HyperMeshTestSupport"]),
        .testTarget(name: "HyperMeshAssetsTests", dependencies: ["HyperMeshAssets", "HyperMeshTestSupport"]),
        .testTarget(
            name: "TrustChainTests", dependencies: ["TrustChain", "HyperMeshTestSupport"], resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "HyperMeshIntegrationTests",
            dependencies: ["hypermesh", "hypermesh-shim", "HyperMeshStore", "HyperMeshTestSupport"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
