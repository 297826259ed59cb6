import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshCore
import STOQ
import TrustChain

struct STOQBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure one connection, one stream over loopback: a `stoq serve` child process and this client.",
        discussion: """
            Without --cert/--key/--ca it makes a throwaway CA and certificate in a temporary directory.
            --baseline also runs iperf3 (TCP, one stream, same byte count) and prints the ratio.

            Examples:
              hypermesh stoq bench --size 1Gi --baseline
              hypermesh stoq bench --size 256Mi --max-udp-payload 65000 -o json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Bytes to move (a quantity: 1Gi, 256Mi).") var size = "1Gi"
    @Flag(help: "Also measure iperf3 TCP over loopback with the same byte count.") var baseline = false
    @Option(help: ArgumentHelp("Certificate chain (default: a throwaway CA's).", valueName: "FILE")) var cert: String?
    @Option(help: ArgumentHelp("Private key.", valueName: "FILE")) var key: String?
    @Option(help: ArgumentHelp("Mesh root.", valueName: "FILE")) var ca: String?
    @OptionGroup var transport: STOQTransportOptions
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let bytes: Int64
        do { bytes = try Quantity(parsing: self.size).wholeValue } catch { throw ValidationError("--size: \(error)") }
        guard bytes > 0 else { throw ValidationError("--size must be positive") }
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
        let clock = ContinuousClock()
        let connection = try client.connect(to: server.address)
        let sink = DiscardingSink()
        let start = clock.now
        let received = try connection.perform(STOQRequest(.fetch(path: "bench.bin"), sink: sink))
        let elapsed = clock.now - start
        connection.close()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let stoqGbps = Double(received) * 8 / seconds / 1e9
        var report: [String: JSONValue] = [
            "bytes": .integer(Int64(received)), "microseconds": .integer(Int64(seconds * 1e6)),
            "stoqMbitPerSecond": .integer(Int64(stoqGbps * 1000)),
            "maxUdpPayload": .integer(Int64(self.transport.maxUdpPayload)),
        ]
        var lines = [String(format: "STOQ (QUIC, 1 stream):  %d bytes in %.3f s = %.2f Gbit/s", received, seconds, stoqGbps)]
        if self.baseline {
            let tcp = try IPerf3.tcpLoopback(bytes: bytes)
            report["iperf3TCPMbitPerSecond"] = .integer(Int64(tcp * 1000))
            report["ratioPerMille"] = .integer(Int64(stoqGbps / tcp * 1000))
            lines.append(String(format: "iperf3 TCP (1 stream):  %.2f Gbit/s", tcp))
            lines.append(String(format: "ratio STOQ / TCP:       %.3f", stoqGbps / tcp))
        }
        if self.output == .json {
            Output.line(JSONValue.object(report).prettyJSON())
        } else {
            lines.forEach(Output.line)
        }
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
    static func tcpLoopback(bytes: Int64) throws -> Double {
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
        client.arguments = ["-c", "127.0.0.1", "-p", port, "-n", String(bytes), "-J"]
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
