import Benchmark
import Foundation

// `hypermesh agent` as systemd would run it, in its own process: the time from `hypermesh apply` of 1,000
// objects to all Ready (the CLI wakes the agent and waits through its local API), and the agent's idle
// resident memory afterwards. Uses $HYPERMESH_BIN, else ../.build/release/hypermesh (`make benchmarks`
// builds it).

let binary: String = {
    if let path = ProcessInfo.processInfo.environment["HYPERMESH_BIN"] { return path }
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/release/hypermesh").path
}()

/// 1,000 small ResourcePools, each Ready once the pool controller has checked it against the host.
func writeSpecs(to path: String) throws {
    let documents = (0..<1000).map { index in
        "apiVersion: hypermesh/v1\nkind: ResourcePool\nmetadata: {name: pool-\(index)}\nspec: {privacy: private, cpu: {cores: 1m}}\n"
    }
    try documents.joined(separator: "---\n").write(toFile: path, atomically: true, encoding: .utf8)
}

@discardableResult
func run(_ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// An agent on a fresh state directory, ready.
final class AgentProcess {
    let process = Process()
    let state: String

    init(state: String) throws {
        self.state = state
        try? FileManager.default.removeItem(atPath: state)
        self.process.executableURL = URL(fileURLWithPath: binary)
        self.process.arguments = ["agent", "--state-dir", state, "--http", "none", "--log-level", "warning"]
        self.process.standardOutput = FileHandle.nullDevice
        self.process.standardError = FileHandle.nullDevice
        try self.process.run()
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: state + "/agent.sock") { usleep(25_000) }
        while try run(["agent", "status", "--state-dir", state]) != 0 { usleep(25_000) }
    }

    /// VmRSS of the agent, in kilobytes.
    var residentKilobytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(self.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    func stop() {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: self.state)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(60), maxIterations: 5)
    let scratch = NSTemporaryDirectory() + "hypermesh-agent-bench-\(getpid())"
    try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    let specs = scratch + "/pools.yaml"
    do { try writeSpecs(to: specs) } catch { fatalError("\(error)") }

    Benchmark("Agent: apply 1,000 objects until all Ready", configuration: .init(metrics: [.wallClock, .custom("idle RSS (KB)")])) {
        benchmark in
        let agent = try AgentProcess(state: scratch + "/state")
        defer { agent.stop() }
        benchmark.startMeasurement()
        let status = try run(["apply", "-f", specs, "--wait=60s", "--state-dir", agent.state])
        benchmark.stopMeasurement()
        precondition(status == 0, "apply --wait failed")
        Thread.sleep(forTimeInterval: 2)
        benchmark.measurement(.custom("idle RSS (KB)"), agent.residentKilobytes)
    }
}
