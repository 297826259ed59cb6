import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// `hypermesh agent` end to end: systemd's notify protocol against a socket the test binds, the CLI waking
/// it, GitOps directories, HTTP endpoints, and the local API's permission check.
@Suite(.serialized)
struct AgentTests {
    /// A state directory and a running agent in it.
    final class RunningAgent {
        let directory: TemporaryDirectory
        let process: BackgroundProcess
        var state: String { self.directory.path + "/state" }

        init(arguments: [String] = ["--http", "none"], environment: [String: String] = [:],
             directory: TemporaryDirectory? = nil) throws {
            self.directory = try directory ?? TemporaryDirectory(prefix: "hypermesh-agent")
            self.process = try BackgroundProcess(PackageLayout.binary,
                                                 ["agent", "--state-dir", self.directory.path + "/state"] + arguments,
                                                 environment: environment)
        }

        func hm(_ arguments: [String]) throws -> ProcessResult {
            try ProcessRunner.hypermesh(arguments, stateDirectory: self.state)
        }

        /// Waits until `agent status` says ready.
        func waitUntilReady(timeout: TimeInterval = 20) throws -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let result = try? self.hm(["agent", "status"]), result.standardOutput.hasPrefix("ready") { return true }
                usleep(50_000)
            }
            return false
        }

        func readiness(of kind: String, _ name: String) throws -> String? {
            let result = try self.hm(["get", kind, name, "-o", "json"])
            guard result.status == 0, let json = try? JSONValue(parsingJSON: result.standardOutput),
                  case .array(let conditions)? = json["status"]?["conditions"] else { return nil }
            for condition in conditions where condition["type"]?.stringValue == "Ready" {
                return condition["status"]?.stringValue
            }
            return nil
        }

        func stop() -> Int32? {
            let status = self.process.stop()
            self.directory.remove()
            return status
        }
    }

    static func example(_ name: String) -> String {
        PackageLayout.root.appendingPathComponent("Examples/workstation/\(name)").path
    }

    @Test func speaksSystemdsNotifyProtocol() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-notify")
        let socketPath = directory.path + "/notify.sock"
        let receiver = try NotifyReceiver(path: socketPath)
        let agent = try RunningAgent(environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "2000000"],
                                     directory: directory)
        #expect(receiver.waitFor("READY=1", timeout: 20), "\(receiver.messages)")
        #expect(receiver.messages.contains { $0.contains("STATUS=") && $0.contains("objects") })
        let readyCount = receiver.count { $0.contains("READY=1") }
        Thread.sleep(forTimeInterval: 3.5)
        let watchdogTimes = receiver.times { $0 == "WATCHDOG=1" }
        #expect(watchdogTimes.count >= 3, "watchdog pings: \(watchdogTimes.count)")
        let gaps = zip(watchdogTimes.dropFirst(), watchdogTimes).map { $0.timeIntervalSince($1) }
        #expect(gaps.allSatisfy { $0 <= 1.0 }, "gaps between WATCHDOG=1: \(gaps)")

        kill(agent.process.process.processIdentifier, SIGHUP)
        #expect(receiver.waitFor("RELOADING=1", timeout: 5))
        let reloading = receiver.messages.first { $0.contains("RELOADING=1") } ?? ""
        #expect(reloading.contains("MONOTONIC_USEC="))
        #expect(receiver.waitUntil(timeout: 5) { $0.count { $0.contains("READY=1") } > readyCount })

        let start = Date()
        #expect(agent.stop() == 0)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(receiver.messages.contains { $0.contains("STOPPING=1") })
    }

    @Test func appliedSpecsBecomeReadyWithoutAManualReconcile() throws {
        let agent = try RunningAgent()
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        let start = Date()
        let applied = try agent.hm(["apply", "-f", Self.example("mesh.yaml")])
        #expect(applied.status == 0, "\(applied.standardError)")
        #expect(!applied.standardError.contains("reconciling here instead"))
        var ready: String?
        while Date().timeIntervalSince(start) < 2 {
            ready = try agent.readiness(of: "mesh", "home")
            if ready == "True" { break }
            usleep(20_000)
        }
        #expect(ready == "True", "Ready=\(ready ?? "-") after \(Date().timeIntervalSince(start)) s")
        // --wait goes through the agent, and a spec that cannot become Ready times out honestly.
        let waited = try agent.hm(["apply", "-f", Self.example("mesh.yaml"), "--wait=10s"])
        #expect(waited.status == 0, "\(waited.standardError)")
        let directory = agent.directory.path
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: too-big}
            spec: {privacy: private, cpu: {cores: 4096}}
            """.write(toFile: directory + "/big.yaml", atomically: true, encoding: .utf8)
        let tooBig = try agent.hm(["apply", "-f", directory + "/big.yaml", "--wait=1s"])
        #expect(tooBig.status == 1 && tooBig.standardError.contains("timed out after 1s waiting for Ready: ResourcePool/too-big"),
                "\(tooBig.standardError)")
    }

    @Test func deleteWaitsForTheAgentAndAPoolForItsClaims() throws {
        let agent = try RunningAgent()
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        let file = agent.directory.path + "/pool-and-claim.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: private, memory: {size: 1%}}
            ---
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: job}
            spec: {pool: shared, memory: 1Mi}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let applied = try agent.hm(["apply", "-f", file, "--wait=20s"])
        #expect(applied.status == 0, "\(applied.standardError)")
        // The pool alone cannot go while the claim holds part of it: delete says why, through the agent.
        let refused = try agent.hm(["delete", "pool", "shared", "--timeout", "1s"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("ResourcePool/shared (pool shared waits for its bound claims to be released: job)"),
                "\(refused.standardError)")
        #expect(!refused.standardError.contains("cleaning up here instead"))
        let pool = try JSONValue(parsingJSON: try agent.hm(["get", "pool", "shared", "-o", "json"]).standardOutput)
        #expect(pool.value(atPath: "status.conditions[0].reason") == "Terminating")
        #expect(try agent.hm(["get", "claim", "job", "-o", "json"]).status == 0)
        // Both together: the claim is released, then the pool goes, and delete returns when both are gone.
        let deleted = try agent.hm(["delete", "-f", file, "--timeout", "20s"])
        #expect(deleted.status == 0, "\(deleted.standardError)")
        #expect(deleted.standardOutput == "pool/shared deleted\nclaim/job deleted\n", "\(deleted.standardOutput)")
        #expect(try agent.hm(["get", "all", "-o", "name"]).standardOutput.isEmpty)
        let badTimeout = try agent.hm(["delete", "claim", "job", "--timeout", "soon"])
        #expect(badTimeout.status == 1 && badTimeout.standardError.contains("--timeout"), "\(badTimeout.standardError)")
    }

    /// An apply and a delete of more objects than one local API request carries (``AgentClient/keysPerRequest``):
    /// the waits go in batches, and every object is Ready, then gone.
    @Test func applyAndDeleteOfMoreKeysThanOneRequestCarries() throws {
        let agent = try RunningAgent()
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        let count = 8_200
        let file = agent.directory.path + "/many.yaml"
        try (0..<count).map { "apiVersion: hypermesh/v1\nkind: ResourcePool\nmetadata: {name: p\($0)}\nspec: {privacy: private, memory: {size: 4Ki}}\n" }
            .joined(separator: "---\n").write(toFile: file, atomically: true, encoding: .utf8)
        let applied = try agent.hm(["apply", "-f", file, "--wait=240s"])
        #expect(applied.status == 0, "\(applied.standardError.suffix(500))")
        let ready = try agent.hm(["get", "pools", "-o", "json"])
        let pools = try JSONValue(parsingJSON: ready.standardOutput)["items"]?.arrayValue ?? []
        #expect(pools.count == count)
        #expect(pools.allSatisfy { $0.value(atPath: "status.conditions[0].status") == "True" })
        let deleted = try agent.hm(["delete", "-f", file, "--timeout", "240s"])
        #expect(deleted.status == 0, "\(deleted.standardError.suffix(500))")
        #expect(try agent.hm(["get", "pools", "-o", "name"]).standardOutput.isEmpty)
    }

    @Test func watchedDirectoriesApplyPruneAndRefuseBrokenCommits() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-gitops")
        let specs = directory.path + "/specs"
        try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.example("mesh.yaml"), toPath: specs + "/mesh.yaml")
        func git(_ arguments: [String]) throws -> String {
            let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/git"),
                                               ["-C", specs, "-c", "user.name=t", "-c", "user.email=t@e"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.standardError)")
            return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try git(["init", "-q"])
        _ = try git(["add", "."])
        _ = try git(["commit", "-q", "-m", "mesh"])
        let head = try git(["rev-parse", "HEAD"])
        let agent = try RunningAgent(arguments: ["--http", "none", "--watch", specs], directory: directory)
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if try condition() { return true }
                usleep(50_000)
            }
            return false
        }
        #expect(try eventually { try agent.readiness(of: "mesh", "home") == "True" })
        let sync = try JSONValue(parsingJSON: try agent.hm(["get", "sync", "-o", "json"]).standardOutput)
        #expect(sync["items"]?[0]?["revision"]?.stringValue == head)
        #expect(sync["items"]?[0]?["result"]?.stringValue == "Applied")

        try FileManager.default.copyItem(atPath: Self.example("batch-claim.yaml"), toPath: specs + "/claim.yaml")
        #expect(try eventually { try agent.hm(["get", "claims", "-o", "name"]).standardOutput.contains("claim/") })
        try FileManager.default.removeItem(atPath: specs + "/claim.yaml")
        #expect(try eventually { try agent.hm(["get", "claims", "-o", "name"]).standardOutput.isEmpty })

        // A broken commit: nothing applied, the mesh keeps running, get sync shows where.
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: broken}
            spec: {privacy: private, cpux: 2}
            """.write(toFile: specs + "/broken.yaml", atomically: true, encoding: .utf8)
        _ = try git(["add", "."])
        _ = try git(["commit", "-q", "-m", "broken"])
        #expect(try eventually { try agent.hm(["get", "sync"]).standardOutput.contains("Failed") })
        let table = try agent.hm(["get", "sync"]).standardOutput
        #expect(table.contains("broken.yaml:4:"), "\(table)")
        #expect(table.contains("cpux"), "\(table)")
        #expect(try agent.hm(["get", "pools", "-o", "name"]).standardOutput.isEmpty)
        #expect(try agent.readiness(of: "mesh", "home") == "True")
        let failed = try JSONValue(parsingJSON: try agent.hm(["get", "sync", "-o", "json"]).standardOutput)
        #expect(failed["items"]?[0]?["appliedRevision"]?.stringValue == head)
    }

    @Test func healthReadinessAndPrometheusMetrics() throws {
        let port = try freeLoopbackPort()
        let agent = try RunningAgent(arguments: ["--http", "127.0.0.1:\(port)"])
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        #expect(try agent.hm(["apply", "-f", Self.example("mesh.yaml"), "--wait=10s"]).status == 0)
        let script = """
            import sys, urllib.request
            from prometheus_client.parser import text_string_to_metric_families
            base = "http://127.0.0.1:\(port)"
            for path in ("/healthz", "/readyz"):
                with urllib.request.urlopen(base + path) as r:
                    assert r.status == 200, (path, r.status)
            text = urllib.request.urlopen(base + "/metrics").read().decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            hist = families["hypermesh_reconcile_duration_seconds"]
            assert hist.type == "histogram", hist.type
            assert any(s.name.endswith("_bucket") and s.labels.get("kind") == "Mesh" for s in hist.samples)
            for name in ("hypermesh_reconciles", "hypermesh_workqueue_depth", "hypermesh_objects",
                         "hypermesh_applies", "process_resident_memory_bytes"):
                assert name in families, name
            print("ok", len(families))
            """
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("ok"))
    }

    @Test func reconcileSeriesExistAtZeroBeforeTheFirstReconcile() throws {
        let port = try freeLoopbackPort()
        let agent = try RunningAgent(arguments: ["--http", "127.0.0.1:\(port)"])
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        // Nothing applied: no kind was ever reconciled, yet every kind's series is there, at zero.
        let script = """
            import urllib.request
            from prometheus_client.parser import text_string_to_metric_families
            text = urllib.request.urlopen("http://127.0.0.1:\(port)/metrics").read().decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            kinds = {"Mesh", "CertificatePolicy", "ResourcePool", "Claim", "MirrorPolicy"}
            totals = {(s.labels["kind"], s.labels["result"]): s.value for s in families["hypermesh_reconciles"].samples
                      if s.name == "hypermesh_reconciles_total"}
            assert {k for k, _ in totals} >= kinds, totals
            assert all(v == 0 for v in totals.values()), totals
            counts = {s.labels["kind"]: s.value for s in families["hypermesh_reconcile_duration_seconds"].samples
                      if s.name.endswith("_count")}
            assert set(counts) >= kinds and all(v == 0 for v in counts.values()), counts
            print("ok")
            """
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script])
        #expect(result.status == 0, "\(result.standardError)")
    }

    @Test func theLocalAPIRefusesOtherUsers() throws {
        guard getuid() == 0 else {
            print("skipped: the peer-credential test needs root to run a client as another user")
            return
        }
        let agent = try RunningAgent()
        defer { _ = agent.stop() }
        #expect(try agent.waitUntilReady())
        // Open the path so the agent's own SO_PEERCRED check is what refuses, not file permissions.
        chmod(agent.directory.path, 0o755)
        chmod(agent.state, 0o755)
        chmod(agent.state + "/agent.sock", 0o666)
        let nobody = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                                           ["--reuid", "65534", "--regid", "65534", "--clear-groups", PackageLayout.binary.path,
                                            "agent", "status", "--state-dir", agent.state])
        #expect(nobody.status == 1)
        #expect(nobody.standardError.contains("permission denied: uid 65534"), "\(nobody.standardError)")
        #expect(try agent.hm(["agent", "status"]).standardOutput.hasPrefix("ready"))
        #expect(agent.process.stop() == 0)
        #expect(agent.process.standardError.contains("Local API connection refused"))
    }

    @Test func badConfigurationIsRefusedWithItsPlace() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-agent-config")
        defer { directory.remove() }
        let hm = { (arguments: [String]) throws -> ProcessResult in
            try ProcessRunner.hypermesh(arguments, stateDirectory: directory.path + "/state")
        }
        for (yaml, message) in [
            ("watch: [relative/dir]\n", "agent.yaml:1:8: watch must be a list of absolute directory paths"),
            ("http: 127.0.0.1\nresync: 5m\n", "agent.yaml:1:7: http: \"127.0.0.1\" is not HOST:PORT or none"),
            ("resync: soon\n", "agent.yaml:1:9: resync must be a duration"),
            ("logLevel: loud\n", "agent.yaml:1:11: logLevel must be"),
            ("stoq: [1]\n", "agent.yaml:1:7: stoq must be HOST:PORT or none"),
            ("stoq: here\n", "agent.yaml:1:7: stoq: \"here\" is not HOST:PORT or none"),
            ("listen: 1\n", "agent.yaml:1:1: unknown key \"listen\""),
            ("- a\n", "agent.yaml:1:1: expected a mapping"),
        ] {
            let path = try directory.write("agent.yaml", yaml)
            let result = try hm(["agent", "--config", path, "--check-config"])
            #expect(result.status == 1, "\(yaml)")
            #expect(result.standardError.contains(message), "\(yaml): \(result.standardError)")
        }
        let good = try directory.write("agent.yaml", "http: none\nresync: 1m\nlogLevel: debug\n")
        let checked = try hm(["agent", "--config", good, "--check-config", "--http", "127.0.0.1:9999"])
        #expect(checked.status == 0 && checked.standardOutput.contains("http: 127.0.0.1:9999"))
        #expect(checked.standardOutput.contains("resync: 60.0 seconds") || checked.standardOutput.contains("resync: 60"))
        let shards = try hm(["agent", "--config", good, "--check-config", "--stoq", "127.0.0.1:9292"])
        #expect(shards.status == 0 && shards.standardOutput.contains("stoq: 127.0.0.1:9292"))
        // Serving shards needs the node certificate: the start stops with what to do.
        let uncertified = try hm(["agent", "--stoq", "127.0.0.1:0", "--http", "none"])
        #expect(uncertified.status == 1 && uncertified.standardError.contains("stoq/chain.pem is missing"), "\(uncertified.standardError)")
        let missing = try hm(["agent", "--watch", directory.path + "/nope", "--http", "none"])
        #expect(missing.status == 1 && missing.standardError.contains("not a directory"))
    }
}

/// An `AF_UNIX` datagram socket standing in for systemd's `$NOTIFY_SOCKET`, recording what arrives.
final class NotifyReceiver: @unchecked Sendable {
    private let descriptor: Int32
    private let lock = NSLock()
    private var received: [(Date, String)] = []

    init(path: String) throws {
        self.descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(self.descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
        Thread { self.receive() }.start()
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(self.descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            self.lock.withLock { self.received.append((Date(), text)) }
        }
    }

    var messages: [String] { self.lock.withLock { self.received.map(\.1) } }
    func count(_ matching: (String) -> Bool) -> Int { self.messages.filter(matching).count }
    func times(_ matching: (String) -> Bool) -> [Date] { self.lock.withLock { self.received.filter { matching($0.1) }.map(\.0) } }

    func waitUntil(timeout: TimeInterval, _ condition: ([String]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(self.messages) { return true }
            usleep(20_000)
        }
        return false
    }

    func waitFor(_ text: String, timeout: TimeInterval) -> Bool {
        self.waitUntil(timeout: timeout) { $0.contains { $0.contains(text) } }
    }
}
