import Benchmark
import BenchmarkLab
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
    let anonymousTLS: TLSConfiguration
    var source: String { self.directory.appendingPathComponent("source").path }
    static let files = 4
    static let fileBytes = 256 << 20

    init() throws {
        self.directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("mirror-bench-\(getpid())")
        try? FileManager.default.removeItem(at: self.directory)
        try FileManager.default.createDirectory(atPath: self.directory.appendingPathComponent("source").path, withIntermediateDirectories: true)
        // A node certificate, as agents have: peers record which node holds each shard (RELEASE/OWNED); and,
        // to measure what that costs, one that names no node.
        let certificates = try BenchmarkLab.tls(in: self.directory, nodeIDs: [String(repeating: "ab", count: 32), nil])
        self.tls = certificates[0]
        self.anonymousTLS = certificates[1]
        var bytes = PseudoRandomBytes()
        for file in 0..<Self.files {
            let path = self.source + "/file\(file).bin"
            try bytes.writeFile(path, bytes: Self.fileBytes)
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

    for (variant, tls) in [("", lab.tls), (", client naming no node (peers keep no holds)", lab.anonymousTLS)] {
        Benchmark("Mirror 1 GiB to 3 STOQ peers (chunk, encode 10+4, place), loopback\(variant)") { benchmark in
            let peers = try Peers(count: 3, lab: lab)
            defer { peers.stop() }
            let shards = try ChunkStore(directory: try lab.scratch("shards"))
            let clients = try peers.shardPeers(tls)
            benchmark.startMeasurement()
            let manifest = try mirror(lab, shards: shards, peers: clients)
            benchmark.stopMeasurement()
            precondition(manifest.byteCount == bytes)
            for client in clients { client.close() }
        }
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
