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

/// Agents in one mesh on loopback: the first ran `mesh init` (the CA and the one validator), the others joined.
/// Every node but the first offers `shared` (public, 1Gi of memory); the first holds `own` (private) for the baseline.
final class BenchMesh {
    let directory: String
    /// State directories, first the CA node's.
    let states: [String]
    /// Node ids, in the same order.
    private(set) var ids: [String] = []
    private var agents: [Process] = []
    /// Whether the first node offers `shared` too (else it holds `own`).
    private let offerOnFirst: Bool

    var a: String { self.states[0] }
    var b: String { self.states[1] }
    var providerID: String { self.ids[1] }

    /// With `validators`, every joiner uses a validator token: the mesh grows to `nodes` validators, and the
    /// initializer returns once every node's ledger names them all.
    init(nodes: Int = 2, offerOnFirst: Bool = false, validators: Bool = false) throws {
        self.offerOnFirst = offerOnFirst
        let directory = NSTemporaryDirectory() + "hypermesh-mesh-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.directory = directory
        self.states = (0..<nodes).map { directory + "/n\($0)" }
        let ports = (0..<nodes).map { _ in freePort() }
        try hm(["mesh", "init", "--name", "bench", "--node-name", "n0", "--listen", "127.0.0.1:\(ports[0])"], state: self.states[0])
        try self.startAgent(self.states[0])
        for index in 1..<nodes {
            let token = try hm(["mesh", "token"] + (validators ? ["--validator"] : []), state: self.a, output: true)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try hm(["mesh", "join", "127.0.0.1:\(ports[0])", "--token", token, "--node-name", "n\(index)", "--listen",
                    "127.0.0.1:\(ports[index])"], state: self.states[index])
            try self.startAgent(self.states[index])
        }
        if validators {
            var agreed = false
            for _ in 0..<600 where !agreed {
                agreed = self.states.allSatisfy { state in
                    let listed = (try? hm(["get", "nodes", "-o", "json"], state: state, output: true)) ?? ""
                    let items = (try? JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any])?["items"] as? [[String: Any]] ?? []
                    return items.filter { $0["validator"] as? Bool == true }.count == nodes
                }
                if !agreed { usleep(100_000) }
            }
            guard agreed else { throw BenchmarkFailure(description: "the validator set never grew to \(nodes)") }
        }
        for state in self.states {
            let mesh = try hm(["get", "mesh", "-o", "json"], state: state, output: true)
            guard let id = try (JSONSerialization.jsonObject(with: Data(mesh.utf8)) as? [String: Any]).flatMap({
                (($0["items"] as? [[String: Any]])?.first?["status"] as? [String: Any])?["nodeId"] as? String
            }) else { throw BenchmarkFailure(description: "no node id for \(state)") }
            self.ids.append(id)
        }
        try self.write("""
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, memory: {size: 1Gi, maxPerClaim: 64Mi}}
            """, to: "shared.yaml")
        for state in self.states.dropFirst(offerOnFirst ? 0 : 1) {
            try hm(["apply", "-f", self.directory + "/shared.yaml", "--wait=30s"], state: state)
        }
        try self.write("""
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: own}
            spec: {privacy: private, memory: {size: 1Gi}}
            """, to: "own.yaml")
        if !offerOnFirst { try hm(["apply", "-f", self.directory + "/own.yaml", "--wait=30s"], state: self.a) }
        // Every offer must be on every node's view of the ledger before the first claim.
        let offered = offerOnFirst ? nodes : nodes - 1
        for _ in 0..<400 {
            let counts = self.states.map { state in
                (try? hm(["get", "offers", "-o", "name"], state: state, output: true))?.split(separator: "\n").count ?? 0
            }
            if counts.allSatisfy({ $0 == offered }) { return }
            usleep(50_000)
        }
        throw BenchmarkFailure(description: "the offers never reached every node")
    }

    func write(_ text: String, to name: String) throws {
        try text.write(toFile: self.directory + "/" + name, atomically: true, encoding: .utf8)
    }

    /// `count` claims of 1Mi each, on B's offer (`placed`) or A's own pool.
    func claims(_ count: Int, placed: Bool, prefix: String) throws -> String {
        try self.claims(count, prefix: prefix, providers: placed ? [self.providerID] : [])
    }

    /// `count` claims of 1Mi each, spread round robin over the offers of `providers` (node ids), or on the own pool.
    func claims(_ count: Int, prefix: String, providers: [String]) throws -> String {
        let name = "\(prefix).yaml"
        try self.write((0..<count).map { index in
            "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(prefix)-\(index)}\nspec: "
                + (providers.isEmpty ? "{pool: own, memory: 1Mi}\n"
                    : "{node: \(providers[index % providers.count]), pool: shared, memory: 1Mi}\n")
        }.joined(separator: "---\n"), to: name)
        return self.directory + "/" + name
    }

    /// Starts an agent on `state`, stopped with the mesh's, without waiting for it.
    func launchAgent(_ state: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["agent", "--state-dir", state, "--http", "none", "--log-level", "warning"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.agents.append(process)
    }

    private func startAgent(_ state: String) throws {
        try self.launchAgent(state)
        for _ in 0..<400 {
            if (try? hm(["agent", "status"], state: state, output: true))?.hasPrefix("ready") == true { return }
            usleep(25_000)
        }
        throw BenchmarkFailure(description: "the agent in \(state) did not become ready")
    }

    /// Pools deleted through the agents (their cgroups go with them), then the agents stopped and the files removed.
    func stop() {
        for (index, state) in self.states.enumerated() {
            let pools = index == 0 && !self.offerOnFirst ? "/own.yaml" : "/shared.yaml"
            try? hm(["delete", "-f", self.directory + pools, "--timeout", "30s"], state: state)
        }
        for agent in self.agents {
            agent.terminate()
            agent.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

/// Runs `hypermesh` with each argument list at once; returns when all have, throwing if one failed.
func hmConcurrently(_ runs: [(arguments: [String], state: String)]) throws {
    let processes = try runs.map { run -> Process in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = run.arguments + ["--state-dir", run.state]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
    for process in processes { process.waitUntilExit() }
    if let failed = processes.first(where: { $0.terminationStatus != 0 }) {
        throw BenchmarkFailure(description: "hypermesh \(failed.arguments?.joined(separator: " ") ?? "") failed")
    }
}

/// Seconds from `start` to now.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = (ContinuousClock.now - start).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
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

    // One claim at a time, local (baseline), on another node's offer, and the same with four validators ordering it
    // (every joiner a validator): what three more validators cost a placement (two commits: place, acknowledge).
    for (placed, validators, title, label) in [
        (false, 1, "Local (baseline): claim on this node's pool, apply --wait until Bound", "local claim -> Bound"),
        (true, 1, "Mesh: claim on another node's offer, apply --wait until Bound (placed, enforced there, acknowledged)", "mesh claim -> Bound"),
        (true, 4, "Mesh, 4 validators: claim on another node's offer, apply --wait until Bound", "mesh claim -> Bound, 4 validators"),
    ] {
        Benchmark(title) { benchmark in
            let mesh: BenchMesh
            do { mesh = try validators == 1 ? BenchMesh() : BenchMesh(nodes: validators, validators: true) } catch { fatalError("\(error)") }
            defer { mesh.stop() }
            var samples: [Double] = []
            for iteration in benchmark.scaledIterations {
                do {
                    let file = try mesh.claims(1, placed: placed, prefix: "one\(iteration)")
                    let start = ContinuousClock.now
                    benchmark.startMeasurement()
                    try hm(["apply", "-f", file, "--wait=30s"], state: mesh.a)
                    benchmark.stopMeasurement()
                    samples.append(seconds(since: start))
                    try hm(["delete", "-f", file, "--timeout", "30s"], state: mesh.a)
                } catch { fatalError("\(error)") }
            }
            percentiles(label, samples)
        }
    }

    // Submitted -> committed: a stake operation handed to the validators (`consensus submit`, which returns once
    // they took it) until the first validator's ledger file holds it, with one validator and with four.
    for validators in [1, 4] {
        Benchmark("Consensus over STOQ, \(validators) validator(s): operation submitted -> committed") { benchmark in
            let mesh: BenchMesh
            do { mesh = try BenchMesh(nodes: validators == 1 ? 2 : 4, validators: validators > 1) } catch { fatalError("\(error)") }
            defer { mesh.stop() }
            func operations() -> Int {
                let text = (try? hm(["consensus", "ledger", "-o", "json"], state: mesh.a, output: true)) ?? ""
                return ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["operations"] as? Int ?? -1
            }
            let tls = ["--cert", mesh.a + "/stoq/chain.pem", "--key", mesh.a + "/stoq/key.pem", "--ca", mesh.a + "/stoq/root.pem"]
            var samples: [Double] = []
            for _ in benchmark.scaledIterations {
                do {
                    let before = operations()
                    let start = ContinuousClock.now
                    benchmark.startMeasurement()
                    try hm(["consensus", "submit", "--kind", "stake", "--amount", "1"] + tls, state: mesh.a)
                    var committed = false
                    for _ in 0..<1000 where !committed {
                        committed = operations() > before
                        if !committed { usleep(5_000) }
                    }
                    benchmark.stopMeasurement()
                    guard committed else { throw BenchmarkFailure(description: "the stake operation was never committed") }
                    samples.append(seconds(since: start))
                } catch { fatalError("\(error)") }
            }
            percentiles("submitted -> committed, \(validators) validator(s)", samples)
        }
    }

    for (placed, title) in [(false, "Local (baseline): 200 claims at once, apply --wait until all Bound"),
                            (true, "Mesh: 200 claims at once on another node's offer, apply --wait until all Bound")] {
        Benchmark(title, configuration: .init(maxIterations: 3)) { benchmark in
            let mesh: BenchMesh
            do { mesh = try BenchMesh() } catch { fatalError("\(error)") }
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

    // The issue's figure: 1,000 claims from 3 consumers onto 4 providers. Five agents: n0 holds the CA and the
    // validator, n1…n4 each offer `shared`; n1, n2, n3 each apply 333 or 334 claims spread over the other
    // providers, all three `apply --wait` at once, timed until the last returns with every claim Bound.
    Benchmark("Mesh: 1,000 claims from 3 consumers onto 4 providers at once, apply --wait until all Bound",
              configuration: .init(maxIterations: 3)) { benchmark in
        let mesh: BenchMesh
        do { mesh = try BenchMesh(nodes: 5) } catch { fatalError("\(error)") }
        defer { mesh.stop() }
        let providers = Array(mesh.ids[1...4])
        for iteration in benchmark.scaledIterations {
            do {
                let runs = try (1...3).map { consumer -> (file: String, state: String) in
                    let others = providers.filter { $0 != mesh.ids[consumer] }
                    let file = try mesh.claims(consumer == 3 ? 334 : 333, prefix: "c\(consumer)-\(iteration)", providers: others)
                    return (file, mesh.states[consumer])
                }
                let start = ContinuousClock.now
                benchmark.startMeasurement()
                try hmConcurrently(runs.map { (["apply", "-f", $0.file, "--wait=120s"], $0.state) })
                benchmark.stopMeasurement()
                print("1,000 claims from 3 consumers onto 4 providers, all Bound: \(ContinuousClock.now - start)")
                try hmConcurrently(runs.map { (["delete", "-f", $0.file, "--timeout", "120s"], $0.state) })
            } catch { fatalError("\(error)") }
        }
    }

    // Join of a new machine: token made on the CA node, `mesh join` (CSR over STOQ, certificate, root, CRL,
    // validators), its agent started, until its copy of the ledger has every offer (following the ledger).
    Benchmark("Mesh: join a new machine (token -> node certificate -> agent following the ledger)",
              configuration: .init(maxIterations: 5)) { benchmark in
        let mesh: BenchMesh
        do { mesh = try BenchMesh(nodes: 2) } catch { fatalError("\(error)") }
        defer { mesh.stop() }
        var samples: [Double] = []
        for iteration in benchmark.scaledIterations {
            do {
                let state = mesh.directory + "/joiner\(iteration)"
                let address = try hm(["get", "mesh", "-o", "json"], state: mesh.a, output: true)
                guard let listen = try (JSONSerialization.jsonObject(with: Data(address.utf8)) as? [String: Any]).flatMap({
                    ((($0["items"] as? [[String: Any]])?.first?["spec"] as? [String: Any])?["node"] as? [String: Any])?["listen"] as? String
                }) else { throw BenchmarkFailure(description: "no listen address for n0") }
                let start = ContinuousClock.now
                benchmark.startMeasurement()
                let token = try hm(["mesh", "token"], state: mesh.a, output: true).trimmingCharacters(in: .whitespacesAndNewlines)
                try hm(["mesh", "join", listen, "--token", token, "--node-name", "joiner\(iteration)", "--listen",
                        "127.0.0.1:\(freePort())"], state: state)
                try mesh.launchAgent(state)
                var following = false
                for _ in 0..<1000 where !following {
                    following = (try? hm(["get", "offers", "-o", "name"], state: state, output: true))?.contains("shared") == true
                    if !following { usleep(20_000) }
                }
                benchmark.stopMeasurement()
                guard following else { throw BenchmarkFailure(description: "the joiner never followed the ledger") }
                samples.append(seconds(since: start))
            } catch { fatalError("\(error)") }
        }
        percentiles("join -> following the ledger", samples)
    }
}
