import Benchmark
import BenchmarkLab
import Foundation
import Logging
import STOQ
import TrustChain

// One connection, one stream, 1 GiB over loopback: STOQ, and in the same run the baselines the issue names —
// iperf3 TCP (one stream) and ngtcp2's own GnuTLS examples (gtlsserver → gtlsclient, HTTP/3).
// Gbit/s = 8.59 / (wall-clock seconds) for 1 GiB.

/// A scratch directory with a throwaway CA, a certificate for both ends, and the 1 GiB file.
struct Setup {
    let directory: URL
    let tls: TLSConfiguration
    static let bytes = 1 << 30

    init() throws {
        self.directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("stoq-bench-\(getpid())")
        try? FileManager.default.removeItem(at: self.directory)
        try FileManager.default.createDirectory(at: self.directory.appendingPathComponent("root"), withIntermediateDirectories: true)
        self.tls = try BenchmarkLab.tls(in: self.directory)
        var bytes = PseudoRandomBytes()
        try bytes.writeFile(self.file, bytes: Self.bytes)
    }

    var file: String { self.directory.appendingPathComponent("root/bench.bin").path }
}

/// Runs a program to completion, output discarded.
@discardableResult
func run(_ path: String, _ arguments: [String], cwd: String? = nil) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

func start(_ path: String, _ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    Thread.sleep(forTimeInterval: 0.3)
    return process
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(60), maxIterations: 5)
    let setup: Setup
    do { setup = try Setup() } catch { fatalError("benchmark setup: \(error)") }

    for payload in [1452, 16_384, 32_768, 65_000] {
        Benchmark("STOQ: 1 GiB, one connection, one stream, loopback, max UDP payload \(payload)") { benchmark in
            var tuning = TransportTuning()
            tuning.maximumUDPPayloadBytes = payload
            var configuration = STOQServer.Configuration(listenAddress: try SocketAddress(host: "127.0.0.1", port: 0),
                                                         tls: setup.tls, root: setup.directory.appendingPathComponent("root"))
            configuration.tuning = tuning
            var logger = Logger(label: "bench")
            logger.logLevel = .error
            let server = try STOQServer(configuration: configuration, logger: logger)
            let finished = DispatchSemaphore(value: 0)
            Thread { server.run(); finished.signal() }.start()
            var clientConfiguration = STOQClient.Configuration(tls: setup.tls)
            clientConfiguration.tuning = tuning
            let connection = try STOQClient(configuration: clientConfiguration, logger: logger).connect(to: server.localAddress)
            let sink = DiscardingSink()
            benchmark.startMeasurement()
            try connection.perform(STOQRequest(.fetch(path: "bench.bin"), sink: sink))
            benchmark.stopMeasurement()
            precondition(sink.count == Setup.bytes)
            connection.close()
            server.stop()
            finished.wait()
        }
    }

    Benchmark("Baseline iperf3 TCP: 1 GiB, one stream, loopback") { benchmark in
        let port = String(Int.random(in: 20_000...40_000))
        let server = try start("/usr/bin/iperf3", ["-s", "-1", "-B", "127.0.0.1", "-p", port])
        benchmark.startMeasurement()
        try run("/usr/bin/iperf3", ["-c", "127.0.0.1", "-p", port, "-n", String(Setup.bytes)])
        benchmark.stopMeasurement()
        server.waitUntilExit()
    }

    Benchmark("Baseline ngtcp2 gtlsserver → gtlsclient (HTTP/3): 1 GiB") { benchmark in
        let port = String(Int.random(in: 20_000...40_000))
        let tls = setup.directory.appendingPathComponent("tls").path
        let server = try start("/usr/sbin/gtlsserver", ["-q", "-d", setup.directory.appendingPathComponent("root").path,
                                                        "127.0.0.1", port, tls + "/key.pem", tls + "/chain.pem"])
        // SIGKILL: the benchmark runner blocks SIGTERM, and children inherit the mask.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        benchmark.startMeasurement()
        try run("/usr/bin/gtlsclient", ["-q", "--exit-on-all-streams-close", "127.0.0.1", port,
                                        "https://127.0.0.1:\(port)/bench.bin"])
        benchmark.stopMeasurement()
    }
}
