import Benchmark
import Foundation
import Logging
import STOQ
import STOQData
import TrustChain

// The mirror data path end to end, on loopback: 1 GiB (four 256 MiB files) chunked, erasure-coded 10+4 and
// placed on three STOQ peers — what the MirrorPolicy controller does for a new version — and restored from
// those peers alone; in the same run, the transport's own figure: 1 GiB over one STOQ connection.
// GB/s = 1.074 / (wall-clock seconds).

struct Lab {
    let directory: URL
    let tls: TLSConfiguration
    var source: String { self.directory.appendingPathComponent("source").path }
    static let files = 4
    static let fileBytes = 256 << 20

    init() throws {
        self.directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("mirror-bench-\(getpid())")
        try? FileManager.default.removeItem(at: self.directory)
        try FileManager.default.createDirectory(atPath: self.directory.appendingPathComponent("source").path, withIntermediateDirectories: true)
        let ca = try CertificateAuthority.initialize(in: self.directory.appendingPathComponent("ca"), name: "bench")
        let tlsDirectory = self.directory.appendingPathComponent("tls")
        _ = try ca.issue(IssuanceRequest(commonName: "bench", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"],
                                         usage: .both, duration: .hours(2), keyAlgorithm: .p256), writingTo: tlsDirectory)
        self.tls = TLSConfiguration(certificateChainPath: tlsDirectory.appendingPathComponent("chain.pem").path,
                                    privateKeyPath: tlsDirectory.appendingPathComponent("key.pem").path,
                                    trustedRootsPath: self.directory.appendingPathComponent("ca/root.pem").path)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = [UInt8](repeating: 0, count: 1 << 20)
        for file in 0..<Self.files {
            let path = self.source + "/file\(file).bin"
            FileManager.default.createFile(atPath: path, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            for _ in 0..<(Self.fileBytes >> 20) {
                block.withUnsafeMutableBytes { raw in
                    for index in raw.bindMemory(to: UInt64.self).indices {
                        state ^= state << 13; state ^= state >> 7; state ^= state << 17
                        raw.storeBytes(of: state, toByteOffset: index * 8, as: UInt64.self)
                    }
                }
                try handle.write(contentsOf: block)
            }
            try handle.close()
            // Older than the encoder's quiet period.
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: path)
        }
    }

    /// A fresh directory under the lab.
    func scratch(_ name: String) throws -> URL {
        let url = self.directory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// STOQ servers on threads of their own, each with an empty blob directory.
final class Peers {
    let servers: [STOQServer]
    private let finished = DispatchSemaphore(value: 0)

    init(count: Int, lab: Lab) throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        self.servers = try (0..<count).map { index in
            try STOQServer(configuration: STOQServer.Configuration(listenAddress: try SocketAddress(host: "127.0.0.1", port: 0),
                                                                   tls: lab.tls, root: try lab.scratch("peer\(index)")),
                           logger: logger)
        }
        for server in self.servers {
            let finished = self.finished
            Thread { server.run(); finished.signal() }.start()
        }
    }

    func shardPeers(_ tls: TLSConfiguration) throws -> [ShardPeer] {
        try self.servers.map { try ShardPeer(address: "\($0.localAddress)", nodeID: nil, tls: tls) }
    }

    func stop() {
        for server in self.servers { server.stop() }
        for _ in self.servers { self.finished.wait() }
    }
}

/// Encodes `lab.source` into `shards` while a ``ShardPlacer`` sends each new stripe's shards to the peers —
/// the controller's path for a new version.
func mirror(_ lab: Lab, shards: ChunkStore, peers: [ShardPeer]) throws -> MirrorManifest {
    let encoder = try StripeEncoder(code: ReedSolomon(dataShards: 10, parityShards: 4), chunker: FastCDC())
    let placer = ShardPlacer(peers: peers, shards: shards)
    let manifest = try encoder.encode(source: lab.source, shards: shards, onStripe: placer.place).manifest
    let (placed, failed) = placer.finish()
    precondition(failed.isEmpty && placed.values.reduce(0) { $0 + $1.count } == manifest.shardCount, "placement failed: \(failed)")
    return manifest
}

/// Removed when the benchmark process exits (several GiB).
nonisolated(unsafe) var labPath: String?

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(120), maxIterations: 3)
    let lab: Lab
    do { lab = try Lab() } catch { fatalError("benchmark setup: \(error)") }
    let bytes = Lab.files * Lab.fileBytes
    labPath = lab.directory.path
    atexit { if let path = labPath { _ = try? FileManager.default.removeItem(atPath: path) } }

    Benchmark("Mirror 1 GiB to 3 STOQ peers (chunk, encode 10+4, place), loopback") { benchmark in
        let peers = try Peers(count: 3, lab: lab)
        defer { peers.stop() }
        let shards = try ChunkStore(directory: try lab.scratch("shards"))
        let clients = try peers.shardPeers(lab.tls)
        benchmark.startMeasurement()
        let manifest = try mirror(lab, shards: shards, peers: clients)
        benchmark.stopMeasurement()
        precondition(manifest.byteCount == bytes)
        for client in clients { client.close() }
    }

    Benchmark("Restore 1 GiB from 3 STOQ peers alone (rarest first, parallel), loopback") { benchmark in
        let peers = try Peers(count: 3, lab: lab)
        defer { peers.stop() }
        let shards = try ChunkStore(directory: try lab.scratch("shards"))
        let clients = try peers.shardPeers(lab.tls)
        let manifest = try mirror(lab, shards: shards, peers: clients)
        let target = try lab.scratch("restored")
        benchmark.startMeasurement()
        let outcome = try MirrorRestorer(manifest: manifest, sources: clients).restore(to: target.path)
        benchmark.stopMeasurement()
        precondition(outcome.bytes == bytes)
        for client in clients { client.close() }
    }

    Benchmark("Baseline STOQ: 1 GiB PUT as one blob, one connection, loopback") { benchmark in
        let peers = try Peers(count: 1, lab: lab)
        defer { peers.stop() }
        let whole = lab.directory.appendingPathComponent("whole.bin").path
        if !FileManager.default.fileExists(atPath: whole) {
            let handle = FileManager.default.createFile(atPath: whole, contents: nil) ? try FileHandle(forWritingTo: URL(fileURLWithPath: whole)) : nil
            for file in 0..<Lab.files { try handle?.write(contentsOf: Data(contentsOf: URL(fileURLWithPath: lab.source + "/file\(file).bin"))) }
            try handle?.close()
        }
        let id = try BlobDirectory.contentID(ofFile: whole)
        let connection = try STOQClient(configuration: STOQClient.Configuration(tls: lab.tls)).connect(to: peers.servers[0].localAddress)
        benchmark.startMeasurement()
        try connection.perform(STOQRequest(.putBlob(id: id, contents: .file(path: whole))))
        benchmark.stopMeasurement()
        connection.close()
    }
}
