import Benchmark
import Foundation

// One mesh of two agents on loopback, with the release binary: A holds the CA and the one validator, B joined
// and offers a pool. What users wait for: `hypermesh apply --wait` of a claim on A with `spec.node: B` until
// it is Bound — placed through the ledger, enforced by B's agent in its cgroups, acknowledged, seen by A — and
// the same for a batch of claims at once. Baseline in the same run: a claim on A's own pool through A's agent
// (`apply --wait` with no ledger). Each claim is deleted (and freed on B) before the next iteration.
//
// Uses $HYPERMESH_BIN, else ../.build/release/hypermesh (`make benchmarks` builds it).

let binary: String = {
    if let path = ProcessInfo.processInfo.environment["HYPERMESH_BIN"] { return path }
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/release/hypermesh").path
}()

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
}

@discardableResult
func hm(_ arguments: [String], state: String, output: Bool = false) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments + ["--state-dir", state]
    let pipe = Pipe()
    process.standardOutput = output ? pipe : FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchmarkFailure(description: "hypermesh \(arguments.joined(separator: " ")) failed") }
    return String(decoding: data, as: UTF8.self)
}

/// A free UDP port on loopback.
func freePort() -> Int {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Two agents in one mesh, B offering `shared` (public) and A holding `own` (private) for the baseline.
final class TwoNodeMesh {
    let directory: String
    let a: String
    let b: String
    private var agents: [Process] = []
    var providerID = ""

    init() throws {
        let directory = NSTemporaryDirectory() + "hypermesh-mesh-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.directory = directory
        self.a = directory + "/a"
        self.b = directory + "/b"
        let (portA, portB) = (freePort(), freePort())
        try hm(["mesh", "init", "--name", "bench", "--node-name", "a", "--listen", "127.0.0.1:\(portA)"], state: self.a)
        try self.startAgent(self.a)
        let token = try hm(["mesh", "token"], state: self.a, output: true).trimmingCharacters(in: .whitespacesAndNewlines)
        try hm(["mesh", "join", "127.0.0.1:\(portA)", "--token", token, "--node-name", "b", "--listen", "127.0.0.1:\(portB)"], state: self.b)
        try self.startAgent(self.b)
        let mesh = try hm(["get", "mesh", "-o", "json"], state: self.b, output: true)
        guard let id = try (JSONSerialization.jsonObject(with: Data(mesh.utf8)) as? [String: Any]).flatMap({
            (($0["items"] as? [[String: Any]])?.first?["status"] as? [String: Any])?["nodeId"] as? String
        }) else { throw BenchmarkFailure(description: "no node id for b") }
        self.providerID = id
        try self.write("""
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, memory: {size: 1Gi, maxPerClaim: 64Mi}}
            """, to: "shared.yaml")
        try hm(["apply", "-f", self.directory + "/shared.yaml", "--wait=30s"], state: self.b)
        try self.write("""
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: own}
            spec: {privacy: private, memory: {size: 1Gi}}
            """, to: "own.yaml")
        try hm(["apply", "-f", self.directory + "/own.yaml", "--wait=30s"], state: self.a)
        // The offer must be on A's view of the ledger before the first claim.
        for _ in 0..<200 {
            if try hm(["get", "offers", "-o", "json"], state: self.a, output: true).contains("shared") { return }
            usleep(50_000)
        }
        throw BenchmarkFailure(description: "b's offer never reached a")
    }

    func write(_ text: String, to name: String) throws {
        try text.write(toFile: self.directory + "/" + name, atomically: true, encoding: .utf8)
    }

    /// `count` claims of 1Mi each, on B's offer (`placed`) or A's own pool.
    func claims(_ count: Int, placed: Bool, prefix: String) throws -> String {
        let name = "\(prefix).yaml"
        try self.write((0..<count).map { index in
            "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(prefix)-\(index)}\nspec: "
                + (placed ? "{node: \(self.providerID), pool: shared, memory: 1Mi}\n" : "{pool: own, memory: 1Mi}\n")
        }.joined(separator: "---\n"), to: name)
        return self.directory + "/" + name
    }

    private func startAgent(_ state: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["agent", "--state-dir", state, "--http", "none", "--log-level", "warning"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.agents.append(process)
        for _ in 0..<400 {
            if (try? hm(["agent", "status"], state: state, output: true))?.hasPrefix("ready") == true { return }
            usleep(25_000)
        }
        throw BenchmarkFailure(description: "the agent in \(state) did not become ready")
    }

    func stop() {
        for agent in self.agents {
            agent.terminate()
            agent.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

/// Seconds of each claim, for the percentiles printed at the end of a benchmark.
func percentiles(_ name: String, _ samples: [Double]) {
    guard !samples.isEmpty else { return }
    let sorted = samples.sorted()
    func at(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))] }
    print(String(format: "%@: n=%d p50 %.3f s, p95 %.3f s, min %.3f s, max %.3f s", name, sorted.count, at(0.5), at(0.95),
                 sorted.first!, sorted.last!))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(120), maxIterations: 20)

    for (placed, title) in [(false, "Local (baseline): claim on this node's pool, apply --wait until Bound"),
                            (true, "Mesh: claim on another node's offer, apply --wait until Bound (placed, enforced there, acknowledged)")] {
        Benchmark(title) { benchmark in
            let mesh: TwoNodeMesh
            do { mesh = try TwoNodeMesh() } catch { fatalError("\(error)") }
            defer { mesh.stop() }
            var samples: [Double] = []
            for iteration in benchmark.scaledIterations {
                do {
                    let file = try mesh.claims(1, placed: placed, prefix: "one\(iteration)")
                    let start = ContinuousClock.now
                    benchmark.startMeasurement()
                    try hm(["apply", "-f", file, "--wait=30s"], state: mesh.a)
                    benchmark.stopMeasurement()
                    let elapsed = (ContinuousClock.now - start).components
                    samples.append(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
                    try hm(["delete", "-f", file, "--timeout", "30s"], state: mesh.a)
                } catch { fatalError("\(error)") }
            }
            percentiles(placed ? "mesh claim -> Bound" : "local claim -> Bound", samples)
        }
    }

    for (placed, title) in [(false, "Local (baseline): 200 claims at once, apply --wait until all Bound"),
                            (true, "Mesh: 200 claims at once on another node's offer, apply --wait until all Bound")] {
        Benchmark(title, configuration: .init(maxIterations: 3)) { benchmark in
            let mesh: TwoNodeMesh
            do { mesh = try TwoNodeMesh() } catch { fatalError("\(error)") }
            defer { mesh.stop() }
            for iteration in benchmark.scaledIterations {
                do {
                    let file = try mesh.claims(200, placed: placed, prefix: "batch\(iteration)")
                    benchmark.startMeasurement()
                    try hm(["apply", "-f", file, "--wait=120s"], state: mesh.a)
                    benchmark.stopMeasurement()
                    try hm(["delete", "-f", file, "--timeout", "120s"], state: mesh.a)
                } catch { fatalError("\(error)") }
            }
        }
    }
}
