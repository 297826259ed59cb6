import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// Workloads end to end, as root: the built binary applies specs, crun runs busybox images the test builds
/// (Tools/build-busybox-image.sh, no network), and every test ends with nothing left — no container, shim,
/// mount, cgroup or bundle.
@Suite(.serialized)
struct WorkloadTests {
    /// A state directory with a pool, a claim (or several), and a busybox image layout.
    final class Lab {
        let directory: TemporaryDirectory
        var state: String { self.directory.path + "/state" }
        var image: String { self.directory.path + "/busybox" }
        var agent: BackgroundProcess?
        /// Agents killed with SIGKILL: kept, because Foundation may not reap them and a released
        /// `BackgroundProcess` would wait for that forever in its deinit.
        var killedAgents: [BackgroundProcess] = []

        init(claims: [(name: String, cpu: String, memory: String)] = [("work", "250m", "64Mi")]) throws {
            self.directory = try TemporaryDirectory(prefix: "hypermesh-workload")
            let built = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"),
                                              [PackageLayout.root.appendingPathComponent("Tools/build-busybox-image.sh").path, self.image])
            precondition(built.status == 0, "building the busybox image failed: \(built.standardError)")
            var specs = """
                apiVersion: hypermesh/v1
                kind: ResourcePool
                metadata: {name: lab}
                spec: {privacy: private, cpu: {cores: 1}, memory: {size: 1Gi}}
                """
            for claim in claims {
                specs += "\n---\napiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(claim.name)}\n"
                    + "spec: {pool: lab, cpu: \(claim.cpu), memory: \(claim.memory)}\n"
            }
            let applied = try self.apply(specs)
            precondition(applied.status == 0, "applying the pool failed: \(applied.standardError)")
        }

        func hm(_ arguments: [String]) throws -> ProcessResult {
            try ProcessRunner.hypermesh(arguments, stateDirectory: self.state)
        }

        @discardableResult
        func apply(_ yaml: String) throws -> ProcessResult {
            let path = try self.directory.write("spec-\(UUID().uuidString).yaml", yaml)
            return try self.hm(["apply", "-f", path])
        }

        func workload(_ name: String, _ spec: String) -> String {
            "apiVersion: hypermesh/v1\nkind: Workload\nmetadata: {name: \(name)}\nspec:\n" + spec
        }

        func startAgent(environment: [String: String] = [:]) throws {
            self.agent = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", self.state, "--http", "none"],
                                               environment: environment)
            #expect(eventually(timeout: 20) { (try? self.hm(["agent", "status"]))?.standardOutput.hasPrefix("ready") == true })
        }

        /// The workload's status, re-read; without an agent a reconcile pass runs first.
        func status(_ name: String) throws -> JSONValue? {
            if self.agent == nil { _ = try self.hm(["reconcile"]) }
            let result = try self.hm(["get", "workload", name, "-o", "json"])
            guard result.status == 0 else { return nil }
            return try JSONValue(parsingJSON: result.standardOutput)["status"]
        }

        func replicas(_ name: String) throws -> [JSONValue] { try self.status(name)?["replicas"]?.arrayValue ?? [] }

        func waitForPhase(_ name: String, _ phase: String, timeout: TimeInterval = 20) -> Bool {
            eventually(timeout: timeout, every: 0.1) { (try? self.status(name))?["phase"]?.stringValue == phase }
        }

        /// What a workload leaves on this machine: replica directories, crun state, mounts under the state
        /// directory (in any mount namespace), container cgroups, shims.
        func leftovers() -> [String] {
            var found: [String] = []
            let manager = FileManager.default
            for workload in (try? manager.contentsOfDirectory(atPath: self.state + "/workloads")) ?? [] {
                found.append("replica files: workloads/\(workload)")
            }
            for container in (try? manager.contentsOfDirectory(atPath: self.state + "/runtime/crun")) ?? [] {
                found.append("crun state: \(container)")
            }
            if let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
               mounts.contains(self.state) {
                found.append("a mount under \(self.state)")
            }
            for controller in ["memory", "cpu", "pids"] {
                let base = "/sys/fs/cgroup/\(controller)/hypermesh/lab"
                for claim in (try? manager.contentsOfDirectory(atPath: base)) ?? [] {
                    for child in (try? manager.contentsOfDirectory(atPath: base + "/" + claim)) ?? [] where child.hasPrefix("hm-") {
                        found.append("cgroup \(controller)/hypermesh/lab/\(claim)/\(child)")
                    }
                }
            }
            for pid in (try? manager.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
                if let command = manager.contents(atPath: "/proc/\(pid)/cmdline"),
                   String(decoding: command, as: UTF8.self).contains(self.state + "/workloads") {
                    found.append("process \(pid)")
                }
            }
            return found
        }

        /// Deletes everything (workloads first) and stops the agent; what is left is reported.
        func finish() throws -> [String] {
            let audit = try self.hm(["audit"])
            #expect(audit.status == 0, "audit before cleanup: \(audit.standardOutput)")
            for name in (try? self.hm(["get", "workloads", "-o", "name"]))?.standardOutput.split(separator: "\n") ?? [] {
                _ = try self.hm(["delete", "workload", String(name.split(separator: "/").last ?? "")])
            }
            if self.agent != nil {
                _ = eventually(timeout: 30) { (try? self.hm(["get", "workloads", "-o", "name"]))?.standardOutput.isEmpty ?? true }
            }
            _ = self.agent?.stop()
            let left = self.leftovers()
            for claim in (try? self.hm(["get", "claims", "-o", "name"]))?.standardOutput.split(separator: "\n") ?? [] {
                _ = try self.hm(["delete", "claim", String(claim.split(separator: "/").last ?? "")])
            }
            _ = try self.hm(["delete", "pool", "lab"])
            self.directory.remove()
            return left
        }
    }

    static func skipReason() -> String? {
        if geteuid() != 0 { return "workload tests need root (crun, cgroups, mounts)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/crun") { return "crun is not installed" }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") { return "busybox-static is not installed" }
        return nil
    }

    // MARK: - One-shot containers, logs, exit codes, images

    @Test func runsAContainerRecordsItsExitAndKeepsItsLog() throws {
        if let reason = Self.skipReason() { return print("skipped: \(reason)") }
        let lab = try Lab()
        #expect(try lab.apply(lab.workload("hello", """
              claim: work
              image: file:\(lab.image)
              command: ["/bin/sh", "-c", "echo hello from $HYPERMESH_WORKLOAD replica $HYPERMESH_REPLICA; echo oops >&2; exit 3"]
              restartPolicy: Never
            """)).status == 0)
        #expect(lab.waitForPhase("hello", "Failed"))
        let replica = try #require(try lab.replicas("hello").first)
        #expect(replica["exitCode"]?.integerValue == 3)
        #expect(replica["reason"]?.stringValue == "Error")
        #expect(replica["containerID"]?.stringValue == "hm-hello-0")
        #expect(replica["startedAt"] != nil && replica["finishedAt"] != nil)
        let logs = try lab.hm(["logs", "hello"])
        #expect(logs.status == 0)
        #expect(logs.standardOutput == "hello from hello replica 0\noops\n", "\(logs.standardOutput)")
        let stamped = try lab.hm(["logs", "workload/hello", "--timestamps", "--tail", "1"])
        #expect(stamped.standardOutput.hasSuffix(" stderr oops\n") && stamped.standardOutput.hasPrefix("20"), "\(stamped.standardOutput)")
        #expect(try lab.hm(["logs", "hello", "--since", "1h"]).standardOutput.contains("hello from"))
        #expect(try lab.hm(["logs", "hello", "--replica", "3"]).status == 1)
        #expect(try lab.hm(["logs", "missing"]).standardError.contains("Workload \"missing\" not found"))
        let table = try lab.hm(["get", "workloads"])
        #expect(table.standardOutput.contains("NAME") && table.standardOutput.contains("0/1") && table.standardOutput.contains("Failed"))

        // A replica that ends well, and a read-only root: writes outside /tmp fail.
        #expect(try lab.apply(lab.workload("ok", """
              claim: work
              image: busybox:latest
              command: ["/bin/sh", "-c", "touch /etc/x 2>/dev/null && echo writable || echo read-only; echo t > /tmp/t && cat /tmp/t; id -u"]
              restartPolicy: OnFailure
            """)).status == 0)
        #expect(lab.waitForPhase("ok", "Succeeded"))
        #expect(try lab.replicas("ok").first?["reason"]?.stringValue == "Completed")
        #expect(try lab.hm(["logs", "ok"]).standardOutput == "read-only\nt\n0\n")

        // A command that is not in the image: StartFailed with crun's words.
        #expect(try lab.apply(lab.workload("broken", """
              claim: work
              image: busybox:latest
              command: ["/bin/no-such-program"]
              restartPolicy: Never
            """)).status == 0)
        #expect(lab.waitForPhase("broken", "Failed"))
        let broken = try #require(try lab.replicas("broken").first)
        #expect(broken["reason"]?.stringValue == "StartFailed")
        #expect(broken["message"]?.stringValue?.contains("no-such-program") == true, "\(broken)")

        // An image nobody imported: ImageMissing, and nothing starts.
        #expect(try lab.apply(lab.workload("nothing", "  claim: work\n  image: alpine:3.20\n")).status == 0)
        #expect(eventually(timeout: 10) { (try? lab.replicas("nothing").first?["reason"]?.stringValue) == "ImageMissing" })
        let left = try lab.finish()
        #expect(left == [])
    }

    @Test func importsLayoutsAndDockerSavesAndRefusesATamperedLayer() throws {
        if let reason = Self.skipReason() { return print("skipped: \(reason)") }
        let directory = try TemporaryDirectory(prefix: "hypermesh-images")
        defer { directory.remove() }
        let state = directory.path + "/state"
        let script = PackageLayout.root.appendingPathComponent("Tools/build-busybox-image.sh").path
        let layout = directory.path + "/layout", tarball = directory.path + "/saved.tar"
        let built = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"), [script, layout, "tools:1", "--docker-save", tarball])
        let id = built.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)

        // Tampered: one byte of the layer changed. Refused, and nothing stored.
        let tampered = directory.path + "/tampered"
        _ = try ProcessRunner.run(URL(fileURLWithPath: "/bin/cp"), ["-a", layout, tampered])
        let blobs = tampered + "/blobs/sha256"
        let layer = try #require(try FileManager.default.contentsOfDirectory(atPath: blobs).max {
            (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + $0)[.size] as? Int ?? 0) ?? 0
                < (try? FileManager.default.attributesOfItem(atPath: blobs + "/" + $1)[.size] as? Int ?? 0) ?? 0
        })
        let handle = try #require(FileHandle(forUpdatingAtPath: blobs + "/" + layer))
        try handle.seek(toOffset: 5000)
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: 5000)
        try handle.write(contentsOf: Data([byte ^ 0xff]))
        try handle.close()
        let refused = try ProcessRunner.hypermesh(["image", "import", tampered], stateDirectory: state)
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("layer 1 does not match its digest"), "\(refused.standardError)")
        #expect(refused.standardError.contains("nothing is stored"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: state + "/images/blobs/sha256")) ?? []).isEmpty)
        #expect(try ProcessRunner.hypermesh(["get", "images"], stateDirectory: state).standardOutput.hasPrefix("No images"))

        // A docker save tarball and the OCI layout of the same image are one image.
        let saved = try ProcessRunner.hypermesh(["image", "import", tarball, "-o", "json"], stateDirectory: state)
        #expect(saved.status == 0, "\(saved.standardError)")
        #expect(try JSONValue(parsingJSON: saved.standardOutput)["items"]?[0]?["id"]?.stringValue == id)
        let imported = try ProcessRunner.hypermesh(["image", "import", layout], stateDirectory: state)
        #expect(imported.status == 0 && imported.standardOutput.contains(String(id.dropFirst(7).prefix(12))))
        let listed = try ProcessRunner.hypermesh(["get", "images", "-o", "json"], stateDirectory: state)
        let items = try JSONValue(parsingJSON: listed.standardOutput)["items"]?.arrayValue ?? []
        #expect(items.count == 1)
        #expect(items.first?["names"]?.arrayValue?.compactMap(\.stringValue) == ["tools:1"])
        #expect(try ProcessRunner.hypermesh(["get", "image", "tools:1"], stateDirectory: state).status == 0)
        #expect(try ProcessRunner.hypermesh(["image", "import", directory.path + "/nope"], stateDirectory: state).standardError
            .contains("no such file or directory"))
        let notImage = try directory.write("not-an-image.txt", "hello")
        #expect(try ProcessRunner.hypermesh(["image", "import", notImage], stateDirectory: state).standardError.contains("not a tar archive"))
    }

    // MARK: - Restarts and OOM (through a running agent)

    @Test func restartsWithGrowingBackOffAndReportsOOMKills() throws {
        if let reason = Self.skipReason() { return print("skipped: \(reason)") }
        let lab = try Lab(claims: [("work", "250m", "64Mi"), ("small", "250m", "32Mi")])
        // Container output reaches journald's native protocol (on a socket the test binds) with its fields.
        let journal = try NotifyReceiver(path: lab.directory.path + "/journal.sock")
        try lab.startAgent(environment: ["HYPERMESH_JOURNAL_SOCKET": lab.directory.path + "/journal.sock"])
        #expect(try lab.apply(lab.workload("flaky", """
              claim: work
              image: file:\(lab.image)
              command: ["/bin/sh", "-c", "echo run; exit 1"]
              restartPolicy: OnFailure
            """)).status == 0)
        #expect(try lab.apply(lab.workload("hog", """
              claim: small
              image: file:\(lab.image)
              command: ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
              restartPolicy: Never
            """)).status == 0)
        #expect(lab.waitForPhase("hog", "Failed", timeout: 30))
        let hog = try #require(try lab.replicas("hog").first)
        #expect(hog["reason"]?.stringValue == "OOMKilled", "\(hog)")
        #expect(hog["exitCode"]?.integerValue == 137)

        // Runs at t0, t0 + 10 s, then + 20 s: back-off 10 s doubling.
        var starts: [Date] = []
        #expect(eventually(timeout: 45, every: 0.2) {
            guard let replica = try? lab.replicas("flaky").first, let restarts = replica["restarts"]?.integerValue,
                  let started = replica["startedAt"]?.stringValue.flatMap(Self.parseTime) else { return false }
            if starts.count == restarts { starts.append(started) }
            return restarts >= 2
        })
        let replica = try #require(try lab.replicas("flaky").first)
        #expect(replica["phase"]?.stringValue == "BackOff" || replica["phase"]?.stringValue == "Starting"
            || replica["phase"]?.stringValue == "Running", "\(replica)")
        if starts.count == 3 {
            let first = starts[1].timeIntervalSince(starts[0]), second = starts[2].timeIntervalSince(starts[1])
            #expect(first >= 9.5 && first < 13, "first back-off \(first) s")
            #expect(second >= 19.5 && second < 24, "second back-off \(second) s")
        } else {
            Issue.record("saw starts \(starts)")
        }
        #expect(try lab.hm(["logs", "flaky"]).standardOutput.hasPrefix("run\nrun\n"))
        let entry = journal.messages.first { $0.contains("HYPERMESH_WORKLOAD=flaky") } ?? ""
        #expect(entry.contains("MESSAGE=run\n") && entry.contains("HYPERMESH_REPLICA=0") && entry.contains("HYPERMESH_CLAIM=work")
            && entry.contains("PRIORITY=6"), "\(journal.messages)")
        let left = try lab.finish()
        #expect(left == [])
    }

    static func parseTime(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
    }

    // MARK: - Limits, sharing, adoption

    @Test func cpuLimitHoldsAndTwentyReplicasShareOneUnpackedLayer() throws {
        if let reason = Self.skipReason() { return print("skipped: \(reason)") }
        let lab = try Lab(claims: [("work", "250m", "256Mi"), ("spin", "250m", "64Mi")])
        try lab.startAgent()
        #expect(try lab.apply(lab.workload("many", """
              claim: work
              image: file:\(lab.image)
              command: ["/bin/sleep", "600"]
              replicas: 20
              terminationGracePeriod: 1s
            """)).status == 0)
        #expect(lab.waitForPhase("many", "Running", timeout: 30))
        #expect(try lab.status("many")?["ready"]?.stringValue == "20/20")
        let layers = try FileManager.default.contentsOfDirectory(atPath: lab.state + "/images/layers")
        #expect(layers.count == 1)
        // Each rootfs is an overlay whose only lower directory is that one cached layer.
        let namespace = lab.state + "/runtime/ns/mnt"
        let mounts = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/nsenter"), ["--mount=\(namespace)", "cat", "/proc/self/mountinfo"])
        let overlays = mounts.standardOutput.split(separator: "\n").filter { $0.contains(" - overlay ") && $0.contains(lab.state) }
        #expect(overlays.count == 20)
        #expect(overlays.allSatisfy { $0.contains("lowerdir=\(lab.state)/images/layers/\(layers[0]),") }, "\(overlays.first ?? "")")
        // The container's processes are in the claim's cgroup.
        let pid = try #require(try lab.replicas("many").first?["pid"]?.integerValue)
        let cgroup = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        #expect(cgroup.contains("memory:/hypermesh/lab/work/hm-many-0"), "\(cgroup)")

        #expect(try lab.apply(lab.workload("spinner", """
              claim: spin
              image: busybox:latest
              command: ["/bin/sh", "-c", "while :; do :; done"]
              terminationGracePeriod: 1s
            """)).status == 0)
        #expect(lab.waitForPhase("spinner", "Running"))
        let usage = "/sys/fs/cgroup/cpuacct/hypermesh/lab/spin/cpuacct.usage"
        func used() -> Double { Double((try? String(contentsOfFile: usage, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0 }
        let before = used(), start = Date()
        Thread.sleep(forTimeInterval: 3)
        let cores = (used() - before) / 1e9 / Date().timeIntervalSince(start)
        #expect(cores >= 0.2 && cores <= 0.3, "a busy loop in a 250m claim used \(cores) cores")
        let left = try lab.finish()
        #expect(left == [])
    }

    @Test func anAgentKilledWithSigkillReadoptsItsContainers() throws {
        if let reason = Self.skipReason() { return print("skipped: \(reason)") }
        let lab = try Lab(claims: [("work", "250m", "128Mi")])
        try lab.startAgent()
        #expect(try lab.apply(lab.workload("steady", """
              claim: work
              image: file:\(lab.image)
              command: ["/bin/sleep", "600"]
              replicas: 5
              terminationGracePeriod: 2s
            """)).status == 0)
        #expect(lab.waitForPhase("steady", "Running", timeout: 30))
        let pids = try lab.replicas("steady").compactMap { $0["pid"]?.integerValue }
        #expect(pids.count == 5)
        let agentPID = lab.agent!.process.processIdentifier
        kill(agentPID, SIGKILL)
        #expect(eventually(timeout: 10) {
            let stat = (try? String(contentsOfFile: "/proc/\(agentPID)/stat", encoding: .utf8)) ?? ""
            return stat.isEmpty || stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        })
        lab.killedAgents.append(lab.agent!)
        lab.agent = nil
        // Nothing stopped with the agent.
        let replicasNow = try lab.replicas("steady")
        #expect(pids.allSatisfy { kill(pid_t($0), 0) == 0 }, "\(pids) \(replicasNow)")
        try lab.startAgent()
        Thread.sleep(forTimeInterval: 2)
        #expect(try lab.replicas("steady").compactMap { $0["pid"]?.integerValue } == pids)
        #expect(try lab.status("steady")?["restarts"]?.integerValue == 0)
        let crunList = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/nsenter"),
                                             ["--mount=\(lab.state)/runtime/ns/mnt", "/usr/bin/crun", "--root", lab.state + "/runtime/crun", "list", "-q"])
        #expect(crunList.standardOutput.split(separator: "\n").count == 5, "\(crunList.standardOutput)")

        // exec runs inside a replica and hands back its exit status.
        let exec = try lab.hm(["exec", "workload/steady", "--replica", "2", "--", "/bin/sh", "-c", "hostname; exit 7"])
        #expect(exec.status == 7, "\(exec.standardError)")
        #expect(exec.standardOutput == "steady-2\n")
        // Deleting the workload stops every container within its grace (sleep ignores SIGTERM as pid 1).
        let started = Date()
        #expect(try lab.hm(["delete", "workload", "steady"]).status == 0)
        #expect(eventually(timeout: 20) { pids.allSatisfy { kill(pid_t($0), 0) != 0 } })
        #expect(Date().timeIntervalSince(started) < 15)
        let left = try lab.finish()
        #expect(left == [])
    }
}
