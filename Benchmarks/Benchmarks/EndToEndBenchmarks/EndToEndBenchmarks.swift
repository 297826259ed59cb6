import Benchmark
import Foundation

// What users wait for: the whole `hypermesh` release binary, from process start until every object has its
// status, for 1k / 10k (and, with HYPERMESH_BENCH_100K=1, 100k) objects of two kinds — ResourcePools and
// Claims bound in them (cgroups where the host has them) — with no agent (apply reconciles itself; a no-op
// re-apply and a diff of the same specs) and through a running agent (`apply --wait`, then its RSS before and after deleting them). Beside them, in the same run, the parse floor: PyYAML's C loader
// only parsing the same file. After the runs it prints time(10k)/time(1k), which is 10 for linear cost.
//
// Uses $HYPERMESH_BIN, else ../.build/release/hypermesh (`make benchmarks` builds it).

let binary: String = {
    if let path = ProcessInfo.processInfo.environment["HYPERMESH_BIN"] { return path }
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/release/hypermesh").path
}()

/// `count` objects: nine in ten small ResourcePools (memory only, so any number fits the host), one in ten
/// Claims spread over the first hundred pools.
func writeSpecs(count: Int, to path: String) throws {
    let claims = count / 10
    let pools = count - claims
    // Every pool must fit the host for all to be Ready: 90,000 pools of 1Mi would not fit 24 GiB.
    let size = count > 10_000 ? "128Ki" : "1Mi"
    var documents: [String] = []
    documents.reserveCapacity(count)
    for index in 0..<pools {
        documents.append("apiVersion: hypermesh/v1\nkind: ResourcePool\nmetadata:\n  name: pool-\(index)\n"
            + "spec:\n  privacy: private\n  memory: {size: \(size), maxPerClaim: \(size)}\n")
    }
    for index in 0..<claims {
        documents.append("apiVersion: hypermesh/v1\nkind: Claim\nmetadata:\n  name: claim-\(index)\n"
            + "spec:\n  pool: pool-\(index % min(100, pools))\n  memory: 1Ki\n")
    }
    try documents.joined(separator: "---\n").write(toFile: path, atomically: true, encoding: .utf8)
}

@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
}

/// An agent on a fresh state directory, answering on its socket.
///
/// Its pid is written to a file every benchmark process of one run shares: a benchmark process the tool ends
/// (its time limit) runs no `defer`, and an agent left busy would skew every benchmark after it, so each new
/// one ends what an earlier one left.
final class AgentProcess {
    let process = Process()
    let state: String
    private static let pidFile = NSTemporaryDirectory() + "hypermesh-e2e-agents-\(getppid()).pids"

    /// Ends agents an earlier benchmark process of this run left running.
    static func endLeftovers() {
        guard let text = try? String(contentsOfFile: Self.pidFile, encoding: .utf8) else { return }
        for pid in text.split(separator: "\n").compactMap({ Int32($0) }) where kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
            while kill(pid, 0) == 0 { usleep(10_000) }
        }
        try? FileManager.default.removeItem(atPath: Self.pidFile)
    }

    init(state: String) throws {
        Self.endLeftovers()
        self.state = state
        try? FileManager.default.removeItem(atPath: state)
        self.process.executableURL = URL(fileURLWithPath: binary)
        self.process.arguments = ["agent", "--state-dir", state, "--http", "none", "--log-level", "warning"]
        self.process.standardOutput = FileHandle.nullDevice
        self.process.standardError = FileHandle.nullDevice
        try self.process.run()
        try "\(self.process.processIdentifier)\n".write(toFile: Self.pidFile, atomically: true, encoding: .utf8)
        for _ in 0..<400 where try run(binary, ["agent", "status", "--state-dir", state]) != 0 { usleep(25_000) }
    }

    var residentKilobytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(self.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    func stop() {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: Self.pidFile)
        try? FileManager.default.removeItem(atPath: self.state)
    }
}

/// Medians of the runs, by benchmark name, for the growth line printed at exit. The benchmark tool runs each
/// benchmark in a process of its own, so the samples go to a file named after that tool's process, which every
/// benchmark of one run shares; each process prints the lines it can once both sizes are in.
final class Medians: @unchecked Sendable {
    static let shared = Medians()
    private let path = NSTemporaryDirectory() + "hypermesh-e2e-samples-\(getppid()).txt"
    private var added: Set<String> = []

    func add(_ name: String, _ seconds: Double) {
        self.added.insert(name)
        let line = "\(seconds)\t\(name)\n"
        guard let handle = FileHandle(forWritingAtPath: self.path) else {
            FileManager.default.createFile(atPath: self.path, contents: Data(line.utf8))
            return
        }
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
        try? handle.close()
    }

    func median(_ name: String) -> Double? {
        let text = (try? String(contentsOfFile: self.path, encoding: .utf8)) ?? ""
        let values = text.split(separator: "\n").compactMap { line -> Double? in
            let fields = line.split(separator: "\t", maxSplits: 1)
            return fields.count == 2 && fields[1] == name ? Double(fields[0]) : nil
        }.sorted()
        return values.isEmpty ? nil : values[values.count / 2]
    }

    func report() {
        for mode in ["no agent", "agent"] {
            guard self.added.contains("\(mode) 1000") || self.added.contains("\(mode) 10000") else { continue }
            if let small = self.median("\(mode) 1000"), let large = self.median("\(mode) 10000") {
                print(String(format: "growth (%@): time(10k)/time(1k) = %.2f s / %.2f s = %.1f (10 is linear)", mode, large, small, large / small))
            }
        }
        for command in ["apply", "diff"] {
            if self.added.contains("\(command) unchanged 10000"), let median = self.median("\(command) unchanged 10000") {
                print(String(format: "%@ of 10k unchanged objects: median %.2f s (goal < 0.5 s)", command, median))
            }
        }
    }
}

func timed(_ name: String, _ body: () throws -> Void) rethrows {
    let start = ContinuousClock.now
    try body()
    let elapsed = (ContinuousClock.now - start).components
    Medians.shared.add(name, Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(120), maxIterations: 5)
    let scratch = NSTemporaryDirectory() + "hypermesh-e2e-bench-\(getpid())"
    try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    var sizes = [1000, 10_000]
    if ProcessInfo.processInfo.environment["HYPERMESH_BENCH_100K"] == "1" { sizes.append(100_000) }
    atexit { Medians.shared.report() }
    AgentProcess.endLeftovers()

    for count in sizes {
        let specs = scratch + "/objects-\(count).yaml"
        do { try writeSpecs(count: count, to: specs) } catch { fatalError("\(error)") }
        let iterations = count >= 100_000 ? 1 : 5
        // 100k objects through an agent take minutes (apply, then delete): the default limit would end the process.
        let limit: Duration = count >= 100_000 ? .seconds(1800) : .seconds(120)

        Benchmark("Parse floor (PyYAML C loader) \(count) objects", configuration: .init(maxIterations: iterations)) { benchmark in
            let status = try run("/usr/bin/env", ["python3", "-c",
                                                  "import yaml,sys; list(yaml.load_all(open(sys.argv[1]), Loader=yaml.CSafeLoader))", specs])
            precondition(status == 0, "PyYAML (python3-yaml with libyaml) is needed for the parse floor")
        }

        Benchmark("No agent: apply \(count) objects until every status is written", configuration: .init(maxIterations: iterations)) {
            benchmark in
            let state = scratch + "/state-\(count)"
            try? FileManager.default.removeItem(atPath: state)
            benchmark.startMeasurement()
            var status: Int32 = 0
            try timed("no agent \(count)") { status = try run(binary, ["--state-dir", state, "apply", "-f", specs]) }
            benchmark.stopMeasurement()
            precondition(status == 0, "apply failed")
            try? FileManager.default.removeItem(atPath: state)
        }

        // What a GitOps pipeline waits for on every commit that changes nothing: apply and diff of the same specs.
        for (what, command) in [("no-op re-apply", "apply"), ("diff", "diff")] {
            Benchmark("No agent: \(what) of \(count) objects", configuration: .init(maxIterations: iterations)) { benchmark in
                // The state is made once, by the first iteration, outside the measurement, and kept for the others.
                let state = scratch + "/state-\(command)-\(count)"
                if !FileManager.default.fileExists(atPath: state) {
                    let applied = try run(binary, ["--state-dir", state, "apply", "-f", specs])
                    precondition(applied == 0, "apply failed")
                }
                benchmark.startMeasurement()
                var status: Int32 = 0
                try timed("\(command) unchanged \(count)") { status = try run(binary, ["--state-dir", state, command, "-f", specs]) }
                benchmark.stopMeasurement()
                precondition(status == 0, "\(command) of unchanged specs exited \(status)")
            }
        }

        Benchmark("Agent: apply --wait \(count) objects until all Ready", configuration: .init(
            metrics: [.wallClock, .custom("RSS after (KB)"), .custom("RSS after delete (KB)")], maxDuration: limit,
            maxIterations: iterations)) { benchmark in
            let agent = try AgentProcess(state: scratch + "/agent-\(count)")
            defer { agent.stop() }
            benchmark.startMeasurement()
            var status: Int32 = 0
            try timed("agent \(count)") { status = try run(binary, ["--state-dir", agent.state, "apply", "-f", specs, "--wait", "5m"]) }
            benchmark.stopMeasurement()
            // Thrown, not trapped: the agent must be stopped by the defer.
            if status != 0 { throw BenchmarkFailure(description: "apply --wait of \(count) exited \(status)") }
            Thread.sleep(forTimeInterval: 1)
            benchmark.measurement(.custom("RSS after (KB)"), agent.residentKilobytes)
            let deleted = try run(binary, ["--state-dir", agent.state, "delete", "-f", specs, "--timeout", "5m"])
            if deleted != 0 { throw BenchmarkFailure(description: "delete of \(count) through the agent exited \(deleted)") }
            Thread.sleep(forTimeInterval: 2)
            benchmark.measurement(.custom("RSS after delete (KB)"), agent.residentKilobytes)
        }
    }
}
