import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshCore
import Logging
import STOQ
import TrustChain

struct STOQBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure STOQ over loopback against TCP, interleaved: a `stoq serve` child process and this client.",
        discussion: """
            Each round moves --size bytes over STOQ (QUIC, one stream per connection), then the same bytes over
            TCP with iperf3 (the baseline, unless --no-baseline), so both see the same machine in the same
            minutes. Prints every run, the median and spread (max − min over the median) of each, the ratio of
            the medians and the lowest ratio of a round, and the load average before and after; warns when a
            spread is over 25 % (the numbers then say more about the machine than about the transport).
            With --connections N, N connections (and iperf3 -P N) run at once and the aggregate counts.
            Without --cert/--key/--ca it makes a throwaway CA and certificate in a temporary directory.

            Examples:
              hypermesh stoq bench --size 1Gi                    # 7 rounds, STOQ and TCP interleaved
              hypermesh stoq bench --size 1Gi --connections 4
              hypermesh stoq bench --size 1Gi --shared-socket      # dialling from a server's socket, as agents do
              hypermesh stoq bench --size 256Mi --rounds 3 --max-udp-payload 65000 -o json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Bytes to move per connection and run (a quantity: 1Gi, 256Mi).") var size = "1Gi"
    @Option(help: "Rounds of STOQ then TCP.") var rounds = 7
    @Option(help: "Connections at once (iperf3 -P for the baseline).") var connections = 1
    @Flag(inversion: .prefixedNo, help: "Run the iperf3 TCP baseline in every round.") var baseline = true
    @Flag(help: "Dial from a STOQ server's own socket, as an agent does (one UDP socket per node).") var sharedSocket = false
    @Option(help: ArgumentHelp("Certificate chain (default: a throwaway CA's).", valueName: "FILE")) var cert: String?
    @Option(help: ArgumentHelp("Private key.", valueName: "FILE")) var key: String?
    @Option(help: ArgumentHelp("Mesh root.", valueName: "FILE")) var ca: String?
    @OptionGroup var transport: STOQTransportOptions
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    static let spreadWarning = 0.25

    func validate() throws {
        guard (1...100).contains(self.rounds) else { throw ValidationError("--rounds must be 1 to 100") }
        guard (1...64).contains(self.connections) else { throw ValidationError("--connections must be 1 to 64") }
    }

    func run() throws {
        let bytes: Int64
        do { bytes = try Quantity(parsing: self.size).wholeValue } catch { throw ValidationError("--size: \(error)") }
        guard bytes > 0 else { throw ValidationError("--size must be positive") }
        if self.baseline && !FileManager.default.isExecutableFile(atPath: "/usr/bin/iperf3") {
            throw ValidationError("the TCP baseline needs /usr/bin/iperf3 (Packaging/install-deps.sh installs it); --no-baseline skips it")
        }
        let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("hypermesh-stoq-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("root"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let tls = try self.tlsFiles(in: scratch)
        try Self.writeTestFile(scratch.appendingPathComponent("root/bench.bin").path, bytes: bytes)

        let server = try STOQBenchServer.start(root: scratch.appendingPathComponent("root").path, tls: tls,
                                               transport: self.transport)
        defer { server.stop() }
        var configuration = STOQClient.Configuration(tls: tls)
        configuration.tuning = self.transport.tuning
        let client = try STOQClient(configuration: configuration)
        // As an agent dials: from the socket its own server listens on, whose loop routes the replies.
        var quiet = Logger(label: "stoq.bench.local")
        quiet.logLevel = .warning
        let local = try self.sharedSocket ? STOQServer(configuration: STOQServer.Configuration(
            listenAddress: SocketAddress(host: "127.0.0.1", port: 0), tls: tls, root: scratch.appendingPathComponent("root")),
            logger: quiet) : nil
        if let local { Thread { local.run() }.start() }
        defer { local?.stop() }
        let loadBefore = LoadAverage.read()
        var stoq: [Double] = [], tcp: [Double] = [], moved: Int64 = 0
        let table = self.output != .json
        if table {
            Output.line("\(self.rounds) rounds of \(self.size) × \(self.connections) connection(s) over loopback; load average \(loadBefore ?? "unknown")")
        }
        for round in 1...self.rounds {
            let (received, gbps) = try Self.measureSTOQ(client: client, address: server.address, connections: self.connections,
                                                        from: local)
            moved = received
            stoq.append(gbps)
            var line = String(format: "round %d: STOQ %6.2f Gbit/s", round, gbps)
            if self.baseline {
                let tcpGbps = try IPerf3.tcpLoopback(bytes: bytes, streams: self.connections)
                tcp.append(tcpGbps)
                line += String(format: "   TCP %6.2f Gbit/s   ratio %.3f", tcpGbps, gbps / tcpGbps)
            }
            if table { Output.line(line) }
        }
        let loadAfter = LoadAverage.read()
        let stoqRuns = RunStatistics(values: stoq), tcpRuns = RunStatistics(values: tcp)
        let ratios = zip(stoq, tcp).map { $0 / $1 }
        var warnings: [String] = []
        for (name, runs) in [("STOQ", stoqRuns), ("TCP", tcpRuns)] where runs.spread > Self.spreadWarning {
            warnings.append(String(format: "%@ runs spread %.0f %% (over %.0f %%): the machine is noisy; measure again on a quiet one",
                                   name, runs.spread * 100, Self.spreadWarning * 100))
        }
        if self.output == .json {
            var report: [String: JSONValue] = [
                "bytesPerRun": .integer(moved), "rounds": .integer(Int64(self.rounds)), "connections": .integer(Int64(self.connections)),
                "maxUdpPayload": .integer(Int64(self.transport.maxUdpPayload)), "sharedSocket": .bool(self.sharedSocket),
                "stoqMbitPerSecond": Self.json(stoqRuns),
                "loadAverageBefore": loadBefore.map { .string($0) } ?? .null, "loadAverageAfter": loadAfter.map { .string($0) } ?? .null,
                "warnings": .array(warnings.map { .string($0) }),
            ]
            if self.baseline {
                report["tcpMbitPerSecond"] = Self.json(tcpRuns)
                report["ratioOfMediansPerMille"] = .integer(Int64(stoqRuns.median / tcpRuns.median * 1000))
                report["lowestRatioPerMille"] = .integer(Int64((ratios.min() ?? 0) * 1000))
            }
            Output.line(JSONValue.object(report).prettyJSON())
            return
        }
        Output.line(String(format: "STOQ: median %.2f Gbit/s (%.2f–%.2f, spread %.0f %%)", stoqRuns.median, stoqRuns.minimum,
                           stoqRuns.maximum, stoqRuns.spread * 100))
        if self.baseline {
            Output.line(String(format: "TCP:  median %.2f Gbit/s (%.2f–%.2f, spread %.0f %%)", tcpRuns.median, tcpRuns.minimum,
                               tcpRuns.maximum, tcpRuns.spread * 100))
            Output.line(String(format: "ratio of medians STOQ / TCP: %.3f; lowest ratio of a round: %.3f", stoqRuns.median / tcpRuns.median,
                               ratios.min() ?? 0))
        }
        Output.line("load average before: \(loadBefore ?? "unknown"); after: \(loadAfter ?? "unknown")")
        for warning in warnings { Output.warning(warning) }
    }

    /// Gbit/s values as whole Mbit/s, the spread in per mille (JSON numbers here are integers).
    static func json(_ runs: RunStatistics) -> JSONValue {
        func mbit(_ gbps: Double) -> JSONValue { .integer(Int64((gbps * 1000).rounded())) }
        return .object(["runs": .array(runs.values.map(mbit)), "median": mbit(runs.median), "min": mbit(runs.minimum),
                        "max": mbit(runs.maximum), "spreadPerMille": .integer(Int64((runs.spread * 1000).rounded()))])
    }

    /// `connections` connections at once, each fetching the test file on its own thread; the bytes of one and the
    /// aggregate rate of all (every byte over the wall time from the first request to the last answer).
    static func measureSTOQ(client: STOQClient, address: SocketAddress, connections count: Int, from server: STOQServer?) throws
        -> (Int64, Double)
    {
        let open = try (0..<count).map { _ in try client.connect(to: address, preferringSocketOf: server) }
        defer { for connection in open { connection.close() } }
        let results = LockedResults(count: count)
        let clock = ContinuousClock()
        let start = clock.now
        let group = DispatchGroup()
        for (index, connection) in open.enumerated() {
            group.enter()
            let handed = HandedToOneThread(connection)
            Thread {
                defer { group.leave() }
                results.set(index, Result { Int64(try handed.value.perform(STOQRequest(.fetch(path: "bench.bin"), sink: DiscardingSink()))) })
            }.start()
        }
        group.wait()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let received = try results.values.map { try $0.get() }
        return (received.first ?? 0, Double(received.reduce(0, +)) * 8 / seconds / 1e9)
    }

    private func tlsFiles(in scratch: URL) throws -> TLSConfiguration {
        if let cert = self.cert, let key = self.key, let ca = self.ca {
            return TLSConfiguration(certificateChainPath: cert, privateKeyPath: key, trustedRootsPath: ca)
        }
        guard self.cert == nil && self.key == nil && self.ca == nil else {
            throw ValidationError("give all of --cert, --key and --ca, or none")
        }
        let authority = try CertificateAuthority.initialize(in: scratch.appendingPathComponent("ca"), name: "stoq-bench")
        let request = IssuanceRequest(commonName: "stoq-bench", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"],
                                      usage: .both, duration: .hours(1), keyAlgorithm: .p256)
        let directory = scratch.appendingPathComponent("tls")
        _ = try authority.issue(request, writingTo: directory)
        return TLSConfiguration(certificateChainPath: directory.appendingPathComponent("chain.pem").path,
                                privateKeyPath: directory.appendingPathComponent("key.pem").path,
                                trustedRootsPath: scratch.appendingPathComponent("ca/root.pem").path)
    }

    /// Pseudo-random bytes (not compressible, not all zero), written 1 MiB at a time.
    static func writeTestFile(_ path: String, bytes: Int64) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else { throw ValidationError("\(path): cannot create it") }
        defer { try? handle.close() }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var left = bytes
        while left > 0 {
            for index in stride(from: 0, to: block.count, by: 8) {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                withUnsafeBytes(of: state) { block.replaceSubrange(index..<index + 8, with: $0) }
            }
            let count = Int(min(Int64(block.count), left))
            try handle.write(contentsOf: block[0..<count])
            left -= Int64(count)
        }
    }
}

/// `hypermesh stoq serve` as a child process on 127.0.0.1 with a kernel-chosen port.
struct STOQBenchServer {
    let process: Process
    let address: SocketAddress

    static func start(root: String, tls: TLSConfiguration, transport: STOQTransportOptions) throws -> STOQBenchServer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
            process.executableURL = Bundle.main.executableURL
        }
        process.arguments = ["stoq", "serve", "--listen", "127.0.0.1:0", "--root", root, "--cert", tls.certificateChainPath,
                             "--key", tls.privateKeyPath, "--ca", tls.trustedRootsPath, "--log-level", "warning",
                             "--congestion-control", transport.congestionControl.rawValue,
                             "--max-udp-payload", String(transport.maxUdpPayload)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var line: [UInt8] = []
        while let byte = try pipe.fileHandleForReading.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") {
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening on "), let address = try? SocketAddress(parsing: String(text.dropFirst(13))) else {
            process.terminate()
            throw ValidationError("the server child did not start: \"\(text)\"")
        }
        return STOQBenchServer(process: process, address: address)
    }

    func stop() {
        self.process.terminate()
        self.process.waitUntilExit()
    }
}

/// The TCP baseline: `iperf3` server and client over loopback, one stream.
enum IPerf3 {
    /// Gbit/s of `streams` TCP streams at once, each moving `bytes` (`-n` counts the total, so it is multiplied).
    static func tcpLoopback(bytes: Int64, streams: Int = 1) throws -> Double {
        let port = String(Int.random(in: 20_000...40_000))
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/iperf3")
        server.arguments = ["-s", "-1", "-B", "127.0.0.1", "-p", port]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/iperf3") else {
            throw ValidationError("--baseline needs /usr/bin/iperf3 (Packaging/install-deps.sh installs it)")
        }
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        Thread.sleep(forTimeInterval: 0.3)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/iperf3")
        client.arguments = ["-c", "127.0.0.1", "-p", port, "-n", String(bytes * Int64(streams)), "-P", String(streams), "-J"]
        let pipe = Pipe()
        client.standardOutput = pipe
        try client.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        client.waitUntilExit()
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let end = root["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
              let bitsPerSecond = received["bits_per_second"] as? Double
        else { throw ValidationError("iperf3 gave no result") }
        return bitsPerSecond / 1e9
    }
}

/// What each of a bench's client threads got.
final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<Int64, any Error>]

    init(count: Int) {
        self.results = Array(repeating: .failure(STOQError.timedOut("no answer")), count: count)
    }

    func set(_ index: Int, _ result: Result<Int64, any Error>) { self.lock.withLock { self.results[index] = result } }
    var values: [Result<Int64, any Error>] { self.lock.withLock { self.results } }
}

/// A connection handed to the one thread that uses it from then on (the caller waits for that thread to finish).
struct HandedToOneThread<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
