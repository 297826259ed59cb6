import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// Pools offered and claims placed through the mesh ledger, across two agents: A holds the CA and the one
/// validator, B joined and follows the ledger. B offers a pool; A sees the offer, claims from it, B's agent
/// enforces the claim in its cgroups and acknowledges it, and only then is A's claim Bound; deleting it frees
/// everything on B.
@Suite(.serialized)
struct MeshLedgerTests {
    let join = MeshJoinTests()

    func json(_ arguments: [String], on state: String) throws -> JSONValue? {
        let result = try ProcessRunner.hypermesh(arguments + ["-o", "json"], stateDirectory: state)
        guard result.status == 0 else { return nil }
        return try? JSONValue(parsingJSON: result.standardOutput)
    }

    func phase(of claim: String, on state: String) throws -> (phase: String?, reason: String?, status: JSONValue?) {
        let object = try self.json(["get", "claim", claim], on: state)
        return (object?.value(atPath: "status.phase")?.stringValue, object?.value(atPath: "status.conditions[0].reason")?.stringValue,
                object?["status"])
    }

    /// A mesh of two agents: A ran `mesh init` (the CA and the one validator), B joined; both agents running.
    final class TwoAgents {
        let a: String
        let b: String
        private(set) var agentA: BackgroundProcess
        let agentB: BackgroundProcess
        let nodeB: String
        /// Where A's agent listens: what others join.
        let addressA: String

        /// With `consensus`, A's Mesh gets that `spec.consensus` before its agent starts (B receives it when it joins).
        init(in directory: TemporaryDirectory, nameA: String? = nil, nameB: String, consensus: JSONValue? = nil) throws {
            self.a = directory.path + "/a"
            self.b = directory.path + "/b"
            let join = MeshJoinTests()
            let addressA = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
            self.addressA = addressA
            let addressB = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
            let initialized = try ProcessRunner.hypermesh(["mesh", "init", "--name", "family", "--listen", addressA]
                + (nameA.map { ["--node-name", $0] } ?? []), stateDirectory: self.a)
            #expect(initialized.status == 0, "\(initialized.standardError)")
            if let consensus {
                let listed = try ProcessRunner.hypermesh(["get", "mesh", "family", "-o", "json"], stateDirectory: self.a)
                guard case .object(var spec)? = try JSONValue(parsingJSON: listed.standardOutput)["spec"] else {
                    throw CocoaError(.fileReadCorruptFile)
                }
                spec["consensus"] = consensus
                let file = directory.path + "/mesh.json"
                try JSONValue.object(["apiVersion": "hypermesh/v1", "kind": "Mesh", "metadata": .object(["name": "family"]),
                                      "spec": .object(spec)]).prettyJSON().write(toFile: file, atomically: true, encoding: .utf8)
                let applied = try ProcessRunner.hypermesh(["apply", "-f", file], stateDirectory: self.a)
                #expect(applied.status == 0, "\(applied.standardError)")
            }
            self.agentA = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", self.a, "--http", "none"])
            #expect(try join.waitForReady(self.a))
            let token = try ProcessRunner.hypermesh(["mesh", "token"], stateDirectory: self.a).standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try ProcessRunner.hypermesh(["mesh", "join", addressA, "--token", token, "--node-name", nameB, "--listen", addressB],
                                                stateDirectory: self.b).status == 0)
            self.agentB = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", self.b, "--http", "none"])
            #expect(try join.waitForReady(self.b))
            self.nodeB = try #require(try join.nodeID(self.b))
        }

        /// A's agent again, on the same state.
        func restartA() throws {
            self.agentA = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", self.a, "--http", "none"])
            #expect(try MeshJoinTests().waitForReady(self.a))
        }

        func stop() {
            _ = self.agentB.stop()
            _ = self.agentA.stop()
        }
    }

    @Test func aClaimOnAnotherNodesOfferedPoolIsEnforcedThereAndFreedOnDelete() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-ledger")
        defer { directory.remove() }
        let mesh = try TwoAgents(in: directory, nameA: "machine-a", nameB: "machine-b")
        defer { mesh.stop() }
        let (a, b, nodeB) = (mesh.a, mesh.b, mesh.nodeB)

        // B offers a pool; a private one stays off the ledger.
        let pools = directory.path + "/pools.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, memory: {size: 64Mi, maxPerClaim: 32Mi}}
            ---
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: mine}
            spec: {privacy: private, memory: {size: 8Mi}}
            """.write(toFile: pools, atomically: true, encoding: .utf8)
        let offered = try ProcessRunner.hypermesh(["apply", "-f", pools, "--wait=20s"], stateDirectory: b)
        #expect(offered.status == 0, "\(offered.standardError)")
        func offers(on state: String) throws -> [JSONValue] { try self.json(["get", "offers"], on: state)?["items"]?.arrayValue ?? [] }
        #expect(eventually(timeout: 10) { try offers(on: a).count == 1 }, "\((try? offers(on: a)) ?? [])")
        let offer = try #require(try offers(on: a).first)
        #expect(offer["node"]?.stringValue == nodeB && offer["pool"] == "shared" && offer["privacy"] == "public-network")
        #expect(offer.value(atPath: "total.memory") == "64Mi" && offer.value(atPath: "maxPerClaim.memory") == "32Mi")
        #expect(eventually(timeout: 10) {
            try self.json(["get", "pool", "shared"], on: b)?.value(atPath: "status.offer.state") == "Offered"
        })
        let table = try ProcessRunner.hypermesh(["get", "offers"], stateDirectory: b).standardOutput
        #expect(table.contains("(this node)") && table.contains("64Mi/64Mi"), "\(table)")
        // B follows the ledger from A and keeps its CRL from A, all from its one STOQ socket: one UDP port.
        let portB = try #require(try self.json(["get", "mesh"], on: b)?["items"]?.arrayValue?.first?
            .value(atPath: "spec.node.listen")?.stringValue?.split(separator: ":").last.flatMap { UInt16($0) })
        #expect(try ProcessSockets.udpPorts(of: mesh.agentB.process.processIdentifier) == [portB])

        // A claims 16Mi of it: placed, enforced by B, then Bound on A.
        let claims = directory.path + "/claims.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: job}
            spec: {node: \(nodeB), pool: shared, memory: 16Mi}
            """.write(toFile: claims, atomically: true, encoding: .utf8)
        let started = Date()
        #expect(try ProcessRunner.hypermesh(["apply", "-f", claims], stateDirectory: a).status == 0)
        #expect(eventually(timeout: 20) { try self.phase(of: "job", on: a).phase == "Bound" }, "\(String(describing: try? self.phase(of: "job", on: a)))")
        print("claim applied on A -> enforced on B -> Bound on A: \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        let bound = try self.phase(of: "job", on: a).status
        #expect(bound?["provider"]?.stringValue == nodeB && bound?["providerPool"] == "shared")
        #expect(bound?["enforcedAtHeight"]?.integerValue ?? 0 > bound?["placedAtHeight"]?.integerValue ?? 0)
        let allocations = try #require(try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue)
        #expect(allocations.count == 1)
        let local = try #require(allocations.first)
        #expect(local.value(atPath: "status.phase") == "Bound" && local.value(atPath: "spec.memory") == "16Mi")
        let nodeA = try #require(try self.join.nodeID(a))
        #expect(local.value(atPath: "spec.consumer")?.stringValue == nodeA)
        // B's kernel enforces it: the claim's memory cgroup has the limit (where this host has the memory controller).
        if let group = local.value(atPath: "status.cgroups[0]")?.stringValue, group.contains("/memory/") {
            let limit = try String(contentsOfFile: group + "/memory.limit_in_bytes", encoding: .utf8)
            #expect(limit.trimmingCharacters(in: .whitespacesAndNewlines) == "\(16 << 20)")
        } else {
            print("skipped: this host has no cgroup v1 memory controller to check the provider's limit in")
        }

        // Two claims of 32Mi for the 48Mi left: the ledger lets exactly one in, and says why the other failed.
        try """
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: left}
            spec: {node: \(nodeB), pool: shared, memory: 32Mi}
            ---
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: right}
            spec: {node: \(nodeB), pool: shared, memory: 32Mi}
            ---
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: private}
            spec: {node: \(nodeB), pool: mine, memory: 1Mi}
            """.write(toFile: directory.path + "/race.yaml", atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/race.yaml"], stateDirectory: a).status == 0)
        #expect(eventually(timeout: 20) {
            let phases = try ["left", "right"].map { try self.phase(of: $0, on: a).phase }
            return phases.sorted { ($0 ?? "") < ($1 ?? "") } == ["Bound", "Failed"]
        }, "\(["left", "right"].map { (try? self.phase(of: $0, on: a))?.reason ?? "-" })")
        let loser = try ["left", "right"].map { try self.phase(of: $0, on: a) }.first { $0.phase == "Failed" }
        #expect(loser?.reason == "LedgerRefused")
        #expect(loser?.status?.value(atPath: "conditions[0].message")?.stringValue?.contains("not enough free memory in pool shared") == true,
                "\(String(describing: loser?.status))")
        // A pool that is private is not on the ledger: the claim waits for an offer that does not exist.
        #expect(try self.phase(of: "private", on: a).reason == "OfferNotFound")

        // The validator down (A's agent hosts the only one) ends nothing: B keeps enforcing what was placed.
        _ = mesh.agentA.stop()
        sleep(3)
        let kept = try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue ?? []
        #expect(kept.count == 2 && kept.allSatisfy { $0.value(atPath: "status.phase") == "Bound" }, "\(kept)")
        if let group = local.value(atPath: "status.cgroups[0]")?.stringValue { #expect(FileManager.default.fileExists(atPath: group)) }
        try mesh.restartA()
        for state in [a, b] {
            let audit = try ProcessRunner.hypermesh(["mesh", "audit"], stateDirectory: state)
            #expect(audit.status == 0 && audit.standardOutput.contains("No orphans"), "\(audit.standardOutput)\(audit.standardError)")
        }

        // Deleting the claims ends their placements: B frees the cgroups, the offer is whole again.
        let deleted = try ProcessRunner.hypermesh(["delete", "-f", claims, "-f", directory.path + "/race.yaml", "--timeout", "20s"],
                                                  stateDirectory: a)
        #expect(deleted.status == 0, "\(deleted.standardError)")
        #expect(eventually(timeout: 10) { try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue?.isEmpty == true })
        if let group = local.value(atPath: "status.cgroups[0]")?.stringValue {
            #expect(eventually(timeout: 10) { !FileManager.default.fileExists(atPath: group) }, "\(group) left behind")
        }
        #expect(eventually(timeout: 10) { try offers(on: a).first?.value(atPath: "free.memory") == "64Mi" })

        // Made private, the pool is withdrawn from the ledger.
        try String(contentsOfFile: pools, encoding: .utf8).replacingOccurrences(of: "public-network", with: "private")
            .write(toFile: pools, atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pools], stateDirectory: b).status == 0)
        #expect(eventually(timeout: 10) { try offers(on: a).isEmpty }, "\((try? offers(on: a)) ?? [])")
        #expect(try ProcessRunner.hypermesh(["delete", "-f", pools, "--timeout", "20s"], stateDirectory: b).status == 0)
        for state in [a, b] {
            let audit = try ProcessRunner.hypermesh(["mesh", "audit", "-o", "json"], stateDirectory: state)
            #expect(audit.status == 0 && (try? JSONValue(parsingJSON: audit.standardOutput))?["findings"]?.arrayValue?.isEmpty == true,
                    "\(audit.standardOutput)")
        }
    }

    /// The owner stays in charge: a pool shrunk below what other nodes claim evicts the newest claim after its
    /// grace period; the consumer's claim says why, the older one stays Bound, the capacity comes back.
    @Test func aShrunkPoolEvictsTheNewestClaimAfterItsGrace() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-evict")
        defer { directory.remove() }
        let mesh = try TwoAgents(in: directory, nameB: "b")
        defer { mesh.stop() }
        let (a, b, nodeB) = (mesh.a, mesh.b, mesh.nodeB)
        let pool = directory.path + "/pool.yaml"
        func writePool(_ size: String, privacy: String = "public-network") throws {
            try """
                apiVersion: hypermesh/v1
                kind: ResourcePool
                metadata: {name: shared}
                spec: {privacy: \(privacy), memory: {size: \(size)}, evictionGrace: 2s}
                """.write(toFile: pool, atomically: true, encoding: .utf8)
        }
        try writePool("64Mi")
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool, "--wait=20s"], stateDirectory: b).status == 0)
        #expect(eventually(timeout: 10) { try self.json(["get", "offers"], on: a)?["items"]?.arrayValue?.count == 1 })
        for name in ["older", "newer"] {
            try "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(name)}\nspec: {node: \(nodeB), pool: shared, memory: 16Mi}\n"
                .write(toFile: directory.path + "/\(name).yaml", atomically: true, encoding: .utf8)
            #expect(try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/\(name).yaml"], stateDirectory: a).status == 0)
            #expect(eventually(timeout: 20) { try self.phase(of: name, on: a).phase == "Bound" })
        }
        try writePool("24Mi")
        let shrunk = Date()
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool], stateDirectory: b).status == 0)
        #expect(eventually(timeout: 15) { try self.phase(of: "newer", on: a).reason == "Evicted" },
                "\(String(describing: try? self.phase(of: "newer", on: a)))")
        let waited = Date().timeIntervalSince(shrunk)
        print("shrunk pool -> newest claim evicted on the consumer: \(String(format: "%.1f", waited)) s (grace 2 s)")
        #expect(waited >= 2)
        let evicted = try self.phase(of: "newer", on: a)
        #expect(evicted.phase == "Failed")
        #expect(evicted.status?.value(atPath: "conditions[0].message")?.stringValue?.contains("shrank below what is claimed") == true)
        #expect(try self.phase(of: "older", on: a).phase == "Bound")
        let events = try ProcessRunner.hypermesh(["describe", "claim", "newer"], stateDirectory: a).standardOutput
        #expect(events.contains("Evicted"), "\(events)")
        #expect(eventually(timeout: 10) { try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue?.count == 1 })
        #expect(eventually(timeout: 10) {
            try self.json(["get", "offers"], on: a)?["items"]?.arrayValue?.first?.value(atPath: "free.memory") == "8Mi"
        })
        // Made private, the pool closes to new claims at once and is withdrawn after the grace: A's claim ends then.
        try writePool("24Mi", privacy: "private")
        let closed = Date()
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool], stateDirectory: b).status == 0)
        #expect(eventually(timeout: 10) { try self.json(["get", "pool", "shared"], on: b)?.value(atPath: "status.offer.state") == "Closing" })
        // Closed on the ledger (committed, as A sees it) before the next claim tries.
        #expect(eventually(timeout: 10) { try self.json(["get", "offers"], on: a)?["items"]?.arrayValue?.first?["closing"] == .bool(true) })
        try "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: late}\nspec: {node: \(nodeB), pool: shared, memory: 1Mi}\n"
            .write(toFile: directory.path + "/late.yaml", atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/late.yaml"], stateDirectory: a).status == 0)
        #expect(eventually(timeout: 10) { try self.phase(of: "late", on: a).reason == "LedgerRefused" })
        #expect(try self.phase(of: "late", on: a).status?.value(atPath: "conditions[0].message")?.stringValue?.contains("being withdrawn") == true)
        #expect(eventually(timeout: 15) { try self.phase(of: "older", on: a).reason == "OfferWithdrawn" },
                "\(String(describing: try? self.phase(of: "older", on: a)))")
        let withdrawn = Date().timeIntervalSince(closed)
        print("pool made private -> the claim on it ended on the consumer: \(String(format: "%.1f", withdrawn)) s (grace 2 s)")
        #expect(withdrawn >= 2)
        #expect(eventually(timeout: 10) { try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue?.isEmpty == true })
        #expect(try ProcessRunner.hypermesh(["delete", "-f", directory.path + "/late.yaml", "-f", directory.path + "/older.yaml",
                                             "--timeout", "20s"], stateDirectory: a).status == 0)
        // Offered again, claimed again.
        try writePool("24Mi")
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool, "--wait=20s"], stateDirectory: b).status == 0)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/older.yaml"], stateDirectory: a).status == 0)
        #expect(eventually(timeout: 20) { try self.phase(of: "older", on: a).phase == "Bound" },
                "\(String(describing: try? self.phase(of: "older", on: a)))")

        // B removed from the mesh: on the ledger too, so its offer goes and A's claim on it ends.
        let removed = try ProcessRunner.hypermesh(["mesh", "remove", "b"], stateDirectory: a)
        #expect(removed.status == 0 && removed.standardOutput.contains("ledger: expel submitted to 1 of 1 validators"),
                "\(removed.standardOutput)\(removed.standardError)")
        #expect(eventually(timeout: 10) { try self.phase(of: "older", on: a).reason == "ProviderRemoved" },
                "\(String(describing: try? self.phase(of: "older", on: a)))")
        #expect(try self.json(["get", "offers"], on: a)?["items"]?.arrayValue?.isEmpty == true)
        // B, refused by the validator now, cannot see the ledger end it and keeps the allocation (validators out of
        // reach never free one); its owner releases it by hand, here without its agent.
        _ = mesh.agentB.stop()
        for name in try ProcessRunner.hypermesh(["get", "claims", "-o", "name"], stateDirectory: b).standardOutput.split(separator: "\n") {
            #expect(try ProcessRunner.hypermesh(["delete", "claim", String(name.dropFirst("claim/".count)), "--timeout", "20s"],
                                                stateDirectory: b).status == 0)
        }
        #expect(try ProcessRunner.hypermesh(["delete", "-f", pool, "--timeout", "20s"], stateDirectory: b).status == 0)
        #expect(try ProcessRunner.hypermesh(["delete", "-f", directory.path + "/older.yaml", "-f", directory.path + "/newer.yaml",
                                             "--timeout", "20s"], stateDirectory: a).status == 0)
    }

    /// `mesh audit` finds an allocation the ledger no longer backs: a placed claim made here by hand.
    @Test func auditFindsAnOrphanAllocation() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-audit")
        defer { directory.remove() }
        let a = directory.path + "/a"
        let address = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
        #expect(try ProcessRunner.hypermesh(["mesh", "init", "--name", "solo", "--listen", address], stateDirectory: a).status == 0)
        let noLedger = try ProcessRunner.hypermesh(["mesh", "audit"], stateDirectory: a)
        #expect(noLedger.status == 1 && noLedger.standardError.contains("no copy of the mesh ledger yet"), "\(noLedger.standardError)")
        let agent = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", a, "--http", "none"])
        defer { _ = agent.stop() }
        #expect(try self.join.waitForReady(a))
        #expect(try ProcessRunner.hypermesh(["mesh", "audit"], stateDirectory: a).status == 0)
        let spec = directory.path + "/orphan.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, memory: {size: 8Mi}}
            ---
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: stray, labels: {hypermesh.io/placed: "true"}}
            spec: {pool: shared, memory: 1Mi}
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", spec, "--wait=20s"], stateDirectory: a).status == 0)
        let audit = try ProcessRunner.hypermesh(["mesh", "audit"], stateDirectory: a)
        #expect(audit.status == 1 && audit.standardOutput.contains("OrphanAllocation") && audit.standardOutput.contains("stray"),
                "\(audit.standardOutput)")
        #expect(try ProcessRunner.hypermesh(["delete", "-f", spec, "--timeout", "20s"], stateDirectory: a).status == 0)
    }

    /// Liveness and leases by ledger time, across three agents (A: the CA and validator, B: the provider, C: a
    /// third member): a claim names its provider by name; a lease ends by itself; B stopped is Lost on A and on
    /// C within 20 s, nothing more is placed on it while what was placed stays; B back frees what ended meanwhile.
    @Test func aSilentProviderIsLostEverywhereAndFreesWhatEndedWhenItReturns() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-lost")
        defer { directory.remove() }
        let mesh = try TwoAgents(in: directory, nameA: "machine-a", nameB: "machine-b")
        defer { mesh.stop() }
        let (a, b) = (mesh.a, mesh.b)
        let c = directory.path + "/c"
        let token = try ProcessRunner.hypermesh(["mesh", "token"], stateDirectory: a).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let addressA = mesh.addressA
        let addressC = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
        #expect(try ProcessRunner.hypermesh(["mesh", "join", addressA, "--token", token, "--node-name", "machine-c", "--listen", addressC],
                                            stateDirectory: c).status == 0)
        let agentC = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", c, "--http", "none"])
        defer { _ = agentC.stop() }
        #expect(try self.join.waitForReady(c))
        let everyone = ["machine-a": "Ready", "machine-b": "Ready", "machine-c": "Ready"]
        for state in [a, b, c] {
            #expect(self.join.waitForNodes(on: state, everyone, timeout: 15), "\((try? self.join.nodes(on: state)) ?? [:])")
        }
        let nodes = try #require(try self.json(["get", "nodes"], on: c))
        #expect(nodes["source"] == "ledger", "\(nodes)")

        let pool = directory.path + "/pool.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, memory: {size: 64Mi}}
            """.write(toFile: pool, atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool, "--wait=20s"], stateDirectory: b).status == 0)
        #expect(eventually(timeout: 10) { try self.json(["get", "offers"], on: c)?["items"]?.arrayValue?.count == 1 })
        // By name, and one with a lease of 4 s of ledger time.
        let claims = directory.path + "/claims.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: kept}
            spec: {node: machine-b, pool: shared, memory: 8Mi}
            ---
            apiVersion: hypermesh/v1
            kind: Claim
            metadata: {name: leased}
            spec: {node: machine-b, pool: shared, memory: 8Mi, duration: 4s}
            """.write(toFile: claims, atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", claims], stateDirectory: c).status == 0)
        #expect(eventually(timeout: 20) { try self.phase(of: "kept", on: c).phase == "Bound" },
                "\(String(describing: try? self.phase(of: "kept", on: c)))")
        #expect(try self.phase(of: "kept", on: c).status?["provider"]?.stringValue == mesh.nodeB)
        #expect(eventually(timeout: 20) { try self.phase(of: "leased", on: c).phase == "Released" },
                "\(String(describing: try? self.phase(of: "leased", on: c)))")
        #expect(try self.phase(of: "leased", on: c).reason == "LeaseExpired")
        #expect(eventually(timeout: 10) { try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue?.count == 1 })

        // B's agent is killed: Lost on A and on C, by the same ledger.
        _ = mesh.agentB.stop(signal: SIGKILL)
        let stopped = Date()
        var lostAfter: [String: TimeInterval] = [:]
        while lostAfter.count < 2 && Date().timeIntervalSince(stopped) < 25 {
            for (name, state) in [("A", a), ("C", c)] where lostAfter[name] == nil {
                if (try? self.join.nodes(on: state))?["machine-b"] == "Lost" { lostAfter[name] = Date().timeIntervalSince(stopped) }
            }
            usleep(200_000)
        }
        print("stopped provider Lost after: " + lostAfter.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value)) s" }
            .joined(separator: ", "))
        #expect(lostAfter.count == 2 && lostAfter.values.allSatisfy { $0 <= 20 }, "\(lostAfter)")
        let offers = try #require(try self.json(["get", "offers"], on: c)?["items"]?.arrayValue)
        #expect(offers.first?["providerStatus"] == "Lost")
        // Nothing more is placed on it; what is placed stays, and says so.
        try "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: late}\nspec: {node: machine-b, pool: shared, memory: 8Mi}\n"
            .write(toFile: directory.path + "/late.yaml", atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/late.yaml"], stateDirectory: c).status == 0)
        #expect(eventually(timeout: 10) { try self.phase(of: "late", on: c).reason == "LedgerRefused" })
        #expect(try self.phase(of: "late", on: c).status?.value(atPath: "conditions[0].message")?.stringValue?.contains("is Lost") == true)
        #expect(eventually(timeout: 10) { try self.phase(of: "kept", on: c).status?["providerStatus"] == "Lost" })
        let kept = try self.phase(of: "kept", on: c)
        #expect(kept.phase == "Bound", "\(String(describing: kept.status))")
        #expect(kept.status?["conditions"]?.arrayValue?.contains { $0["reason"] == "ProviderLost" } == true, "\(String(describing: kept.status))")

        // Meanwhile its consumer deletes the kept claim: the end is committed without B.
        let deleted = try ProcessRunner.hypermesh(["delete", "-f", claims, "-f", directory.path + "/late.yaml", "--timeout", "20s"],
                                                  stateDirectory: c)
        #expect(deleted.status == 0, "\(deleted.standardError)")
        // B back: Ready again, and it frees what ended while it was away; no orphans anywhere.
        let agentB = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", b, "--http", "none"])
        defer { _ = agentB.stop() }
        #expect(try self.join.waitForReady(b))
        #expect(self.join.waitForNodes(on: c, everyone, timeout: 15), "\((try? self.join.nodes(on: c)) ?? [:])")
        #expect(eventually(timeout: 15) { try self.json(["get", "allocations"], on: b)?["items"]?.arrayValue?.isEmpty == true })
        for state in [a, b, c] {
            let audit = try ProcessRunner.hypermesh(["mesh", "audit", "-o", "json"], stateDirectory: state)
            #expect(audit.status == 0 && (try? JSONValue(parsingJSON: audit.standardOutput))?["findings"]?.arrayValue?.isEmpty == true,
                    "\(audit.standardOutput)")
        }
        _ = agentB.stop()
        #expect(try ProcessRunner.hypermesh(["delete", "-f", pool, "--timeout", "20s"], stateDirectory: b).status == 0)
    }

    /// A mesh whose `consensus.requireSpace` is on: B learns the rule when it joins; its offer without a plot is
    /// not made (the pool says why and how to make one); with its plot, the offer carries a proof of space that
    /// the validator checks, and a claim on it binds.
    @Test func offersCarryAProofOfSpaceWhereTheMeshDemandsOne() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-space")
        defer { directory.remove() }
        let consensus = JSONValue.object(["requireSpace": .bool(true), "spaceMinimumLeaves": .integer(64), "spaceMinimumRounds": .integer(10)])
        let mesh = try TwoAgents(in: directory, nameA: "machine-a", nameB: "machine-b", consensus: consensus)
        defer { mesh.stop() }
        let (a, b) = (mesh.a, mesh.b)
        #expect(try self.json(["get", "mesh", "family"], on: b)?.value(atPath: "spec.consensus.requireSpace") == .bool(true))

        let pool = directory.path + "/pool.yaml"
        try """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: shared}
            spec: {privacy: public-network, memory: {size: 64Mi, maxPerClaim: 32Mi}}
            """.write(toFile: pool, atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool], stateDirectory: b).status == 0)
        func poolText() -> String { (try? ProcessRunner.hypermesh(["get", "pool", "shared", "-o", "json"], stateDirectory: b))?.standardOutput ?? "" }
        #expect(eventually(timeout: 15) { poolText().contains("consensus plot") }, "\(poolText())")
        #expect(try self.json(["get", "offers"], on: a)?["items"]?.arrayValue?.isEmpty == true)

        let plotted = try ProcessRunner.hypermesh(["consensus", "plot", "--out", b + "/consensus/space.plot", "--leaves", "64", "--rounds", "10"],
                                                  stateDirectory: b)
        #expect(plotted.status == 0, "\(plotted.standardError)")
        #expect(try ProcessRunner.hypermesh(["apply", "-f", pool], stateDirectory: b).status == 0)
        #expect(eventually(timeout: 30) {
            try self.json(["get", "pool", "shared"], on: b)?.value(atPath: "status.offer.state") == "Offered"
        }, "\(poolText())")
        let claim = directory.path + "/claim.yaml"
        try "apiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: spaced}\nspec: {node: machine-b, pool: shared, memory: 16Mi}\n"
            .write(toFile: claim, atomically: true, encoding: .utf8)
        let applied = try ProcessRunner.hypermesh(["apply", "-f", claim, "--wait=30s"], stateDirectory: a)
        #expect(applied.status == 0, "\(applied.standardError)")
        #expect(try self.phase(of: "spaced", on: a).phase == "Bound")
        #expect(try ProcessRunner.hypermesh(["delete", "-f", claim, "--timeout", "20s"], stateDirectory: a).status == 0)
        #expect(try ProcessRunner.hypermesh(["delete", "-f", pool, "--timeout", "20s"], stateDirectory: b).status == 0)
    }
}
