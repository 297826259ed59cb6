import Benchmark
import Foundation

// Container start, as users wait for it, with the release binary and a running agent (root, crun, busybox-static).
// Interleaved in one run, 50 of each: the baseline, `crun run` of a busybox `/bin/echo` bundle by hand (spawn ->
// exit, in the runtime's cgroup-v1 mount namespace, as this hybrid-cgroup host needs), and a Workload applied
// through the agent: `hypermesh apply` started -> the container's first output line (timestamped by the shim as
// it reads it, i.e. the process is running in its claim's cgroup) and -> `Succeeded` in the status. Then 100
// replicas from one apply -> all Running, and the agent's RSS with them.
//
// Uses $HYPERMESH_BIN, else ../.build/release/hypermesh (`make benchmarks` builds it and hypermesh-shim).

let binary: String = {
    if let path = ProcessInfo.processInfo.environment["HYPERMESH_BIN"] { return path }
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/release/hypermesh").path
}()
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

struct BenchmarkFailure: Error, CustomStringConvertible { let description: String }

/// Runs a program to its end with posix_spawn (Foundation's waitUntilExit costs ~50 ms on Linux); returns the
/// exit status and stdout.
@discardableResult
func run(_ path: String, _ arguments: [String], output: Bool = false) throws -> (Int32, String) {
    var pipeEnds: [Int32] = [-1, -1]
    pipe(&pipeEnds)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if output { posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1) } else { posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
    posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
    var pid: pid_t = 0
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { throw BenchmarkFailure(description: "cannot run \(path)") }
    close(pipeEnds[1])
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(pipeEnds[0], &buffer, buffer.count)
        if count <= 0 { break }
        data.append(buffer, count: count)
    }
    close(pipeEnds[0])
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return ((status >> 8) & 0xff, String(decoding: data, as: UTF8.self))
}

func hm(_ arguments: [String], state: String, output: Bool = false) throws -> String {
    let (status, text) = try run(binary, arguments + ["--state-dir", state], output: output)
    guard status == 0 else { throw BenchmarkFailure(description: "hypermesh \(arguments.joined(separator: " ")) exited \(status)") }
    return text
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = (ContinuousClock.now - start).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
}

func report(_ name: String, _ samples: [Double]) {
    guard !samples.isEmpty else { return }
    let sorted = samples.sorted()
    func at(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))] }
    print(String(format: "%@: n=%d p50 %.1f ms, p95 %.1f ms, min %.1f ms, max %.1f ms", name, sorted.count, at(0.5) * 1000,
                 at(0.95) * 1000, sorted.first! * 1000, sorted.last! * 1000))
}

/// A state directory with a pool, a claim, the busybox image and a running agent.
final class Lab {
    let directory: String
    var state: String { self.directory + "/state" }
    let agent = Process()

    init(memory: String = "256Mi") throws {
        self.directory = NSTemporaryDirectory() + "hypermesh-workload-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        let (built, _) = try run("/bin/bash", [repository.appendingPathComponent("Tools/build-busybox-image.sh").path, self.directory + "/image"])
        guard built == 0 else { throw BenchmarkFailure(description: "building the busybox image failed") }
        _ = try hm(["image", "import", self.directory + "/image"], state: self.state)
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: bench}
            spec: {privacy: private, cpu: {cores: 1}, memory: {size: 1Gi}}
            ---
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: bench}
            spec: {pool: bench, cpu: 500m, memory: \(memory)}
            """.write(toFile: self.directory + "/claim.yaml", atomically: true, encoding: .utf8)
        _ = try hm(["apply", "-f", self.directory + "/claim.yaml"], state: self.state)
        self.agent.executableURL = URL(fileURLWithPath: binary)
        self.agent.arguments = ["agent", "--state-dir", self.state, "--http", "none"]
        self.agent.standardOutput = FileHandle.nullDevice
        self.agent.standardError = FileHandle.nullDevice
        try self.agent.run()
        for _ in 0..<400 {
            if let text = try? hm(["agent", "status"], state: self.state, output: true), text.hasPrefix("ready") { return }
            usleep(50_000)
        }
        throw BenchmarkFailure(description: "the agent did not get ready")
    }

    func apply(_ name: String, command: [String], replicas: Int = 1, restart: String = "Never") throws {
        let quoted = command.map { "\"\($0)\"" }.joined(separator: ", ")
        let file = self.directory + "/\(name).yaml"
        try "apiVersion: hypermesh/v1\nkind: Workload\nmetadata: {name: \(name)}\nspec: {claim: bench, image: \"busybox:latest\", command: [\(quoted)], replicas: \(replicas), restartPolicy: \(restart), terminationGracePeriod: 1s}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        _ = try hm(["apply", "-f", file], state: self.state)
    }

    func status(_ name: String) -> [String: Any]? {
        guard let text = try? hm(["get", "workload", name, "-o", "json"], state: self.state, output: true),
              let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return nil }
        return json["status"] as? [String: Any]
    }

    func stop() {
        _ = try? hm(["delete", "claim", "bench"], state: self.state)
        self.agent.terminate()
        self.agent.waitUntilExit()
        _ = try? hm(["delete", "pool", "bench"], state: self.state)
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

/// The shim's timestamp of a log line: `2026-12-07T15:26:30.008238619Z stdout up`.
func logTime(_ line: Substring) -> Date? {
    guard let stamp = line.split(separator: " ").first, stamp.count >= 20 else { return nil }
    let whole = String(stamp.prefix(19)) + "Z"
    guard let base = try? Date(whole, strategy: .iso8601) else { return nil }
    let fraction = stamp.dropFirst(20).dropLast()
    return base.addingTimeInterval((Double("0." + fraction) ?? 0))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(300), maxIterations: 1)

    Benchmark("Workload start, 50 interleaved: crun run by hand (baseline) vs apply -> running in its claim -> Succeeded") { _ in
        guard geteuid() == 0 else { return print("skipped: needs root") }
        do {
            let lab = try Lab()
            defer { lab.stop() }
            // The bundle for the baseline: the image's cached layer as rootfs, crun's defaults, /bin/echo.
            let bundle = lab.directory + "/bundle"
            let layers = try FileManager.default.contentsOfDirectory(atPath: lab.state + "/images/layers")
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: bundle + "/rootfs", withDestinationPath: lab.state + "/images/layers/" + layers[0])
            // Warm up once, which also makes the runtime's mount namespace.
            try lab.apply("warm", command: ["/bin/true"])
            for _ in 0..<200 where (lab.status("warm")?["phase"] as? String) != "Succeeded" { usleep(20_000) }
            let namespace = lab.state + "/runtime/ns/mnt"
            _ = try run("/usr/bin/crun", ["spec", "--bundle", bundle])
            let specPath = bundle + "/config.json"
            var spec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: specPath))) as! [String: Any]
            var process = spec["process"] as! [String: Any]
            process["terminal"] = false
            process["args"] = ["/bin/echo", "up"]
            spec["process"] = process
            var linux = spec["linux"] as! [String: Any]
            linux["cgroupsPath"] = "/hypermesh/bench/bench/baseline"
            spec["linux"] = linux
            try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: specPath))
            var crun: [Double] = [], running: [Double] = [], succeeded: [Double] = []
            for round in 0..<50 {
                var start = ContinuousClock.now
                let (status, _) = try run("/usr/bin/nsenter", ["--mount=\(namespace)", "/usr/bin/crun", "--root", lab.directory + "/crun",
                                                               "run", "--bundle", bundle, "baseline\(round)"])
                guard status == 0 else { throw BenchmarkFailure(description: "crun run exited \(status)") }
                crun.append(seconds(since: start))

                let name = "w\(round)"
                let wall = Date()
                start = ContinuousClock.now
                try lab.apply(name, command: ["/bin/echo", "up"])
                let log = lab.state + "/workloads/\(name)/0/output.log"
                var first: Date?
                for _ in 0..<5000 {
                    if let text = try? String(contentsOfFile: log, encoding: .utf8), let line = text.split(separator: "\n").first {
                        first = logTime(line)
                        break
                    }
                    usleep(500)
                }
                guard let first else { throw BenchmarkFailure(description: "workload \(name) printed nothing") }
                running.append(first.timeIntervalSince(wall))
                for _ in 0..<2000 where (lab.status(name)?["phase"] as? String) != "Succeeded" { usleep(2000) }
                succeeded.append(seconds(since: start))
                _ = try hm(["delete", "workload", name], state: lab.state)
            }
            report("crun run /bin/echo by hand (baseline)", crun)
            report("Workload: apply -> process running in its claim (its first output line)", running)
            report("Workload: apply -> status Succeeded (as get shows it)", succeeded)
        } catch { fatalError("\(error)") }
    }

    Benchmark("Workload: 100 replicas from one apply -> all Running; agent RSS") { _ in
        guard geteuid() == 0 else { return print("skipped: needs root") }
        do {
            let lab = try Lab(memory: "768Mi")
            defer { lab.stop() }
            let start = ContinuousClock.now
            try lab.apply("many", command: ["/bin/sleep", "600"], replicas: 100, restart: "Always")
            for _ in 0..<3000 where (lab.status("many")?["ready"] as? String) != "100/100" { usleep(10_000) }
            let elapsed = seconds(since: start)
            let status = (try? String(contentsOfFile: "/proc/\(lab.agent.processIdentifier)/status", encoding: .utf8)) ?? ""
            let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? "VmRSS: ?"
            print(String(format: "100 replicas: apply -> 100/100 Running in %.2f s; agent %@", elapsed, String(rss)))
            let started = ContinuousClock.now
            _ = try hm(["delete", "workload", "many"], state: lab.state)
            print(String(format: "100 replicas: delete (SIGTERM, 1 s grace, SIGKILL) in %.2f s", seconds(since: started)))
        } catch { fatalError("\(error)") }
    }
}
