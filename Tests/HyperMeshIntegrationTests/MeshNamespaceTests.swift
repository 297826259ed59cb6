import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// Machines of one mesh, each in a network namespace of its own on a bridge in a hub namespace (10.79.0.0/24
/// exists only inside them), made and removed by the test. Node `n` is 10.79.0.`n`, its agent listens on port
/// 9292 and its state is `DIRECTORY/n<n>`.
///
/// Commands enter only the node's network namespace (`nsenter --net`): `ip netns exec` also remounts `/sys`,
/// which hides the cgroup hierarchies, and a provider there could enforce nothing.
final class MeshLab {
    static let ip = URL(fileURLWithPath: "/usr/sbin/ip")
    static let nsenter = URL(fileURLWithPath: "/usr/bin/nsenter")

    let directory: TemporaryDirectory
    let count: Int
    private let prefix: String
    private var agents: [Int: BackgroundProcess] = [:]

    /// `nil`, with the reason printed, where namespaces cannot be made (not root, no `ip`).
    static func make(nodes: Int) throws -> MeshLab? {
        guard getuid() == 0 else {
            print("skipped: mesh namespace tests need root")
            return nil
        }
        guard FileManager.default.isExecutableFile(atPath: Self.ip.path), FileManager.default.isExecutableFile(atPath: Self.nsenter.path) else {
            print("skipped: no /usr/sbin/ip or /usr/bin/nsenter")
            return nil
        }
        let lab = MeshLab(nodes: nodes, directory: try TemporaryDirectory(prefix: "hypermesh-lab"))
        do {
            try lab.setUp()
        } catch {
            lab.tearDown()
            print("skipped: cannot make network namespaces: \(error)")
            return nil
        }
        return lab
    }

    private init(nodes: Int, directory: TemporaryDirectory) {
        self.count = nodes
        self.directory = directory
        self.prefix = "hml\(getpid() % 100_000)"
    }

    var hub: String { "\(self.prefix)h" }
    func namespace(_ node: Int) -> String { "\(self.prefix)n\(node)" }
    func state(_ node: Int) -> String { self.directory.path + "/n\(node)" }
    func address(_ node: Int) -> String { "10.79.0.\(node):9292" }

    @discardableResult
    private func ip(_ arguments: [String]) throws -> ProcessResult {
        let result = try ProcessRunner.run(Self.ip, arguments)
        guard result.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "ip \(arguments.joined(separator: " ")): \(result.standardError)"])
        }
        return result
    }

    private func setUp() throws {
        try self.ip(["netns", "add", self.hub])
        try self.ip(["-n", self.hub, "link", "add", "br0", "type", "bridge"])
        try self.ip(["-n", self.hub, "link", "set", "br0", "up"])
        for node in 1...self.count {
            let namespace = self.namespace(node)
            try self.ip(["netns", "add", namespace])
            try self.ip(["link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", "port\(node)", "netns", self.hub])
            try self.ip(["-n", self.hub, "link", "set", "port\(node)", "master", "br0", "up"])
            try self.ip(["-n", namespace, "addr", "add", "10.79.0.\(node)/24", "dev", "eth0"])
            try self.ip(["-n", namespace, "link", "set", "eth0", "up"])
            try self.ip(["-n", namespace, "link", "set", "lo", "up"])
        }
    }

    /// `hypermesh ARGUMENTS` as node `node`, inside its namespace.
    func hypermesh(_ node: Int, _ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run(Self.nsenter, self.entering(node) + ["--state-dir", self.state(node)] + arguments)
    }

    /// `nsenter` arguments that run `hypermesh` in node `node`'s network namespace (nsenter execs it).
    private func entering(_ node: Int) -> [String] {
        ["--net=/run/netns/\(self.namespace(node))", PackageLayout.binary.path]
    }

    /// The same, started and not waited for.
    func start(_ node: Int, _ arguments: [String]) throws -> BackgroundProcess {
        try BackgroundProcess(Self.nsenter, self.entering(node) + ["--state-dir", self.state(node)] + arguments)
    }

    func json(_ node: Int, _ arguments: [String]) -> JSONValue? {
        guard let result = try? self.hypermesh(node, arguments + ["-o", "json"]), result.status == 0 else { return nil }
        return try? JSONValue(parsingJSON: result.standardOutput)
    }

    /// Starts node `node`'s agent (the process is the agent: nsenter execs it) and waits until it is ready.
    func startAgent(_ node: Int) throws -> Bool {
        self.agents[node] = try BackgroundProcess(Self.nsenter, self.entering(node) + ["agent", "--state-dir", self.state(node), "--http", "none"])
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? self.hypermesh(node, ["agent", "status"]))?.standardOutput.hasPrefix("ready") == true { return true }
            usleep(100_000)
        }
        return false
    }

    func stopAgent(_ node: Int, signal: Int32 = SIGTERM) {
        _ = self.agents.removeValue(forKey: node)?.stop(signal: signal)
    }

    /// Node 1 starts the mesh (its CA, the one validator); the others join with one-time tokens (validator tokens
    /// with `validators`: each joiner becomes a validator); every agent runs.
    func formMesh(validators: Bool = false) throws -> Bool {
        guard try self.hypermesh(1, ["mesh", "init", "--name", "lab", "--node-name", "machine-1", "--listen", self.address(1)]).status == 0,
              try self.startAgent(1) else { return false }
        for node in 2...self.count {
            let token = try self.hypermesh(1, ["mesh", "token"] + (validators ? ["--validator"] : []))
                .standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            let joined = try self.hypermesh(node, ["mesh", "join", self.address(1), "--token", token, "--node-name", "machine-\(node)",
                                                   "--listen", self.address(node)])
            guard joined.status == 0, try self.startAgent(node) else {
                print("node \(node) did not join: \(joined.standardError)")
                return false
            }
        }
        return true
    }

    /// Whether node `node`'s agent runs.
    func isRunning(_ node: Int) -> Bool { self.agents[node] != nil }

    /// The names of the validators node `node`'s copy of the ledger names, sorted.
    func validators(seenBy node: Int) -> [String] {
        (self.json(node, ["get", "nodes"])?["items"]?.arrayValue ?? []).filter { $0["validator"]?.boolValue == true }
            .compactMap { $0["name"]?.stringValue }.sorted()
    }

    /// Agents stopped, claims released from each node's state, namespaces and files removed.
    func tearDown() {
        for node in Array(self.agents.keys) { self.stopAgent(node) }
        for node in 1...self.count where FileManager.default.fileExists(atPath: self.state(node)) {
            let names = (try? self.hypermesh(node, ["get", "claims", "-o", "name"]))?.standardOutput.split(separator: "\n") ?? []
            for name in names {
                _ = try? self.hypermesh(node, ["delete", "claim", String(name.dropFirst("claim/".count)), "--timeout", "10s"])
            }
            for name in (try? self.hypermesh(node, ["get", "pools", "-o", "name"]))?.standardOutput.split(separator: "\n") ?? [] {
                _ = try? self.hypermesh(node, ["delete", "pool", String(name.dropFirst("pool/".count)), "--timeout", "10s"])
            }
        }
        for node in 1...self.count { _ = try? ProcessRunner.run(Self.ip, ["netns", "del", self.namespace(node)]) }
        _ = try? ProcessRunner.run(Self.ip, ["netns", "del", self.hub])
        self.directory.remove()
    }
}

/// Four machines in namespaces of their own, one mesh: what the ledger decides holds however the consumers'
/// timing falls.
@Suite(.serialized)
struct MeshNamespaceTests {
    /// C and D race for the last core of A's pool twenty times, applying at the same moment from their own
    /// machines: each time exactly one is Bound (A's kernel holds its CFS quota) and the other is refused by
    /// the ledger with the reason; the core comes back before the next round; no orphans at the end.
    @Test func twoConsumersRacingForTheLastCoreNeverBothWin() throws {
        guard let lab = try MeshLab.make(nodes: 4) else { return }
        defer { lab.tearDown() }
        try #require(try lab.formMesh())
        let everyone = Dictionary(uniqueKeysWithValues: (1...4).map { ("machine-\($0)", "Ready") })
        for node in 1...4 {
            #expect(eventually(timeout: 20) {
                let items = lab.json(node, ["get", "nodes"])?["items"]?.arrayValue ?? []
                return Dictionary(uniqueKeysWithValues: items.compactMap { item in
                    item["name"]?.stringValue.map { ($0, item["status"]?.stringValue ?? "") }
                }) == everyone
            }, "node \(node): \(String(describing: lab.json(node, ["get", "nodes"])))")
        }
        let pool = lab.directory.path + "/pool.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, cpu: {cores: 1}}
            """.write(toFile: pool, atomically: true, encoding: .utf8)
        #expect(try lab.hypermesh(1, ["apply", "-f", pool, "--wait=20s"]).status == 0)
        func freeCPU(on node: Int) -> String? {
            lab.json(node, ["get", "offers"])?["items"]?.arrayValue?.first?.value(atPath: "free.cpu")?.stringValue
        }
        for node in [3, 4] { #expect(eventually(timeout: 15) { freeCPU(on: node) == "1" }, "node \(node): \(String(describing: freeCPU(on: node)))") }

        var winners: [Int: Int] = [:]
        for round in 1...20 {
            let name = "race-\(round)"
            let file = lab.directory.path + "/\(name).yaml"
            try "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(name)}\nspec: {node: machine-1, pool: shared, cpu: 1}\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            let applies = try [3, 4].map { try lab.start($0, ["apply", "-f", file]) }
            for apply in applies { #expect(apply.wait(timeout: 20) == 0) }
            func phase(_ node: Int) -> (String?, String?, String?) {
                let status = lab.json(node, ["get", "claim", name])?["status"]
                return (status?["phase"]?.stringValue, status?.value(atPath: "conditions[0].reason")?.stringValue,
                        status?.value(atPath: "conditions[0].message")?.stringValue)
            }
            let settled = eventually(timeout: 20) { Set([phase(3).0, phase(4).0]) == ["Bound", "Failed"] }
            #expect(settled, "round \(round): C \(phase(3)), D \(phase(4))")
            guard settled else { break }
            let winner = phase(3).0 == "Bound" ? 3 : 4
            let loser = 7 - winner
            winners[winner, default: 0] += 1
            #expect(phase(loser).1 == "LedgerRefused" && phase(loser).2?.contains("not enough free cpu") == true, "round \(round): \(phase(loser))")
            if round == 1 {
                // A enforces the winner in its kernel: a CFS quota of one core (where this host has the cpu controller).
                let allocation = lab.json(1, ["get", "allocations"])?["items"]?.arrayValue?.first
                if let group = allocation?["status"]?["cgroups"]?.arrayValue?.compactMap(\.stringValue).first(where: { $0.contains("/cpu") }) {
                    let quota = try String(contentsOfFile: group + "/cpu.cfs_quota_us", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                    let period = try String(contentsOfFile: group + "/cpu.cfs_period_us", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(quota == period, "quota \(quota) for period \(period)")
                    // Enforced in full: the consumer's claim carries no ProviderDegraded.
                    let conditions = lab.json(winner, ["get", "claim", name])?["status"]?["conditions"]?.arrayValue ?? []
                    #expect(!conditions.contains { $0["reason"] == "ProviderDegraded" }, "\(conditions)")
                } else if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cpu/cpu.cfs_quota_us") {
                    Issue.record("the provider's allocation names no cpu cgroup: \(String(describing: allocation))")
                } else {
                    print("skipped: this host has no cgroup v1 cpu controller to check the provider's quota in")
                }
            }
            for node in [3, 4] { #expect(try lab.hypermesh(node, ["delete", "-f", file, "--timeout", "20s"]).status == 0) }
            #expect(eventually(timeout: 15) { freeCPU(on: 3) == "1" && freeCPU(on: 4) == "1" }, "round \(round): the core did not come back")
        }
        print("winners of 20 races: C \(winners[3] ?? 0), D \(winners[4] ?? 0)")
        #expect(winners.values.reduce(0, +) == 20)
        #expect(eventually(timeout: 10) { lab.json(1, ["get", "allocations"])?["items"]?.arrayValue?.isEmpty == true })
        for node in 1...4 {
            let audit = lab.json(node, ["mesh", "audit"])
            #expect(audit?["findings"]?.arrayValue?.isEmpty == true, "node \(node): \(String(describing: audit))")
        }
        #expect(try lab.hypermesh(1, ["delete", "-f", pool, "--timeout", "20s"]).status == 0)
    }

    /// The validator set follows the CA's records: three machines join with validator tokens and the ledger grows
    /// from one validator to four, one reconfiguration each; a claim binds across machines; one validator killed
    /// (f = 1 of 4) changes nothing; `mesh remove` takes it out (four to three) and claims keep binding.
    @Test func validatorsGrowFromOneToFourSurviveOneKilledAndShrinkToThree() throws {
        guard let lab = try MeshLab.make(nodes: 4) else { return }
        defer { lab.tearDown() }
        try #require(try lab.formMesh(validators: true))
        let four = (1...4).map { "machine-\($0)" }
        for node in 1...4 {
            #expect(eventually(timeout: 40) { lab.validators(seenBy: node) == four }, "node \(node) sees validators \(lab.validators(seenBy: node))")
        }
        let pool = lab.directory.path + "/pool.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, cpu: {cores: 2}}
            """.write(toFile: pool, atomically: true, encoding: .utf8)
        #expect(try lab.hypermesh(1, ["apply", "-f", pool, "--wait=20s"]).status == 0)
        func claim(_ name: String, from node: Int) throws -> String? {
            let file = lab.directory.path + "/\(name).yaml"
            try "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(name)}\nspec: {node: machine-1, pool: shared, cpu: 1}\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            guard try lab.hypermesh(node, ["apply", "-f", file]).status == 0 else { return nil }
            _ = eventually(timeout: 20) { lab.json(node, ["get", "claim", name])?["status"]?["phase"]?.stringValue == "Bound" }
            return lab.json(node, ["get", "claim", name])?["status"]?["phase"]?.stringValue
        }
        #expect(try claim("with-four", from: 2) == "Bound")

        // One validator of four killed: the other three still commit.
        lab.stopAgent(4, signal: SIGKILL)
        #expect(try claim("one-down", from: 3) == "Bound")

        // Removed from the mesh: the CA node's agent proposes the set without it.
        #expect(try lab.hypermesh(1, ["mesh", "remove", "machine-4"]).status == 0)
        let three = (1...3).map { "machine-\($0)" }
        for node in 1...3 {
            #expect(eventually(timeout: 30) { lab.validators(seenBy: node) == three }, "node \(node) sees validators \(lab.validators(seenBy: node))")
        }
        #expect(try lab.hypermesh(3, ["delete", "claim", "one-down", "--timeout", "20s"]).status == 0)
        #expect(try claim("with-three", from: 3) == "Bound")
        for node in 2...3 {
            let names = (lab.json(node, ["get", "claims"])?["items"]?.arrayValue ?? []).compactMap { $0.value(atPath: "metadata.name")?.stringValue }
            for name in names { #expect(try lab.hypermesh(node, ["delete", "claim", name, "--timeout", "20s"]).status == 0) }
        }
        #expect(eventually(timeout: 15) { lab.json(1, ["get", "allocations"])?["items"]?.arrayValue?.isEmpty == true })
        for node in 1...3 {
            let audit = lab.json(node, ["mesh", "audit"])
            #expect(audit?["findings"]?.arrayValue?.isEmpty == true, "node \(node): \(String(describing: audit))")
        }
        #expect(try lab.hypermesh(1, ["delete", "-f", pool, "--timeout", "20s"]).status == 0)
    }
}
