import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// `hypermesh mesh init / token / join` end to end: a CA node's agent answers joins on its STOQ port, joiners
/// get a node certificate openssl verifies, and a token works once and only for the mesh it pins.
@Suite(.serialized)
struct MeshJoinTests {
    func openssl(_ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments)
    }

    func nodeID(_ state: String) throws -> String? {
        let result = try ProcessRunner.hypermesh(["get", "mesh", "-o", "json"], stateDirectory: state)
        guard case .array(let items)? = (try? JSONValue(parsingJSON: result.standardOutput))?["items"] else { return nil }
        return items.first?["status"]?["nodeId"]?.stringValue
    }

    @Test func machinesJoinWithOneTimeTokensAndGetCertificatesOpenSSLVerifies() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-join")
        defer { directory.remove() }
        let first = directory.path + "/machine-1", second = directory.path + "/machine-2"
        let third = directory.path + "/machine-3", fourth = directory.path + "/machine-4"
        let port = try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue))
        let address = "127.0.0.1:\(port)"

        let initialized = try ProcessRunner.hypermesh(["mesh", "init", "--name", "family", "--node-name", "machine-1",
                                                       "--listen", address, "-o", "json"], stateDirectory: first)
        #expect(initialized.status == 0, "\(initialized.standardError)")
        let summary = try JSONValue(parsingJSON: initialized.standardOutput)
        let rootFingerprint = try #require(summary["rootFingerprint"]?.stringValue)
        #expect(try self.nodeID(first) == summary["nodeId"]?.stringValue)
        // Only the CA node makes tokens.
        let noCA = try ProcessRunner.hypermesh(["mesh", "token"], stateDirectory: second)
        #expect(noCA.status == 1 && noCA.standardError.contains("holds no mesh CA"), "\(noCA.standardError)")

        let token = try ProcessRunner.hypermesh(["mesh", "token", "--ttl", "10m"], stateDirectory: first)
        #expect(token.status == 0)
        let text = token.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.hasPrefix("hmjoin1.") && text.hasSuffix("." + rootFingerprint))

        let agent = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", first, "--http", "none"])
        defer { _ = agent.stop() }
        #expect(try self.waitForReady(first))

        let joined = try ProcessRunner.hypermesh(["mesh", "join", address, "--token", text, "--node-name", "machine-2",
                                                  "-o", "json"], stateDirectory: second)
        #expect(joined.status == 0, "\(joined.standardError)")
        let joinedSummary = try JSONValue(parsingJSON: joined.standardOutput)
        #expect(joinedSummary["mesh"]?.stringValue == "family")
        #expect(joinedSummary["validators"]?.integerValue == 1)
        let secondID = try #require(try self.nodeID(second))
        #expect(joinedSummary["nodeId"]?.stringValue == secondID)

        // The certificate is for machine-2's own key (which never left it), names hm://NODE-ID and chains to the root.
        let tls = second + "/stoq"
        let verify = try openssl(["verify", "-purpose", "sslclient", "-CAfile", tls + "/root.pem", "-untrusted", tls + "/chain.pem",
                                  tls + "/cert.pem"])
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
        let text509 = try openssl(["x509", "-in", tls + "/cert.pem", "-noout", "-text"]).standardOutput
        #expect(text509.contains("URI:hm://\(secondID)"))
        let certificateKey = try openssl(["x509", "-in", tls + "/cert.pem", "-noout", "-pubkey"]).standardOutput
        let nodeKey = try openssl(["pkey", "-in", second + "/node/node-key.pem", "-pubout"]).standardOutput
        #expect(!certificateKey.isEmpty && certificateKey == nodeKey)
        #expect(try openssl(["x509", "-in", tls + "/root.pem", "-noout", "-fingerprint", "-sha256"]).standardOutput
            .replacingOccurrences(of: ":", with: "").lowercased().contains(rootFingerprint))

        // With it, machine-2 is a mesh member to machine-1's STOQ server (mutual TLS on stoq/1: the handshake
        // passes, and the request is answered, here with "no such file").
        let fetched = try ProcessRunner.hypermesh(["stoq", "get", "stoq://\(address)/nothing-here", "-o", directory.path + "/out",
                                                   "--cert", tls + "/chain.pem", "--key", tls + "/key.pem", "--ca", tls + "/root.pem"],
                                                  stateDirectory: second)
        #expect(fetched.standardError.contains("no such file"), "\(fetched.standardError)")

        // The token is spent.
        let reused = try ProcessRunner.hypermesh(["mesh", "join", address, "--token", text, "--node-name", "machine-3"],
                                                 stateDirectory: third)
        #expect(reused.status == 1 && reused.standardError.contains("already used"), "\(reused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: third + "/stoq/chain.pem"))

        // A token that pins another root: the join stops before the secret is sent, and the token stays valid.
        let fresh = try ProcessRunner.hypermesh(["mesh", "token"], stateDirectory: first).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wrongRoot = String(fresh.dropLast(64)) + String(repeating: "0", count: 64)
        let impostor = try ProcessRunner.hypermesh(["mesh", "join", address, "--token", wrongRoot, "--node-name", "machine-4"],
                                                   stateDirectory: fourth)
        #expect(impostor.status == 1 && impostor.standardError.contains("belongs to another mesh"), "\(impostor.standardError)")
        let tokens = try JSONValue(parsingJSON: try ProcessRunner.hypermesh(["mesh", "tokens", "-o", "json"], stateDirectory: first).standardOutput)
        #expect(tokens.arrayValue?.compactMap { $0["state"]?.stringValue }.sorted() == ["used", "valid"])
        // The same token from a file works.
        let tokenFile = directory.path + "/token"
        try fresh.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let fromFile = try ProcessRunner.hypermesh(["mesh", "join", address, "--token-file", tokenFile, "--node-name", "machine-4"],
                                                   stateDirectory: fourth)
        #expect(fromFile.status == 0, "\(fromFile.standardError)")
        // Joining again needs --force.
        let again = try ProcessRunner.hypermesh(["mesh", "join", address, "--token-file", tokenFile], stateDirectory: fourth)
        #expect(again.status == 1 && again.standardError.contains("--force"))
        // Malformed input is refused before anything is sent.
        let malformed = try ProcessRunner.hypermesh(["mesh", "join", address, "--token", "hmjoin1.nope"], stateDirectory: third)
        #expect(malformed.status != 0 && malformed.standardError.contains("four parts"), "\(malformed.standardError)")
    }

    /// `stoq get` of a file nobody serves, with `state`'s node credentials: "no such file" means the server
    /// accepted us as a member; a refused handshake means it did not.
    func probe(_ address: String, from state: String, into directory: String) throws -> ProcessResult {
        let tls = state + "/stoq"
        return try ProcessRunner.hypermesh(["stoq", "get", "stoq://\(address)/nothing-here", "-o", directory + "/out", "--timeout", "3s",
                                            "--cert", tls + "/chain.pem", "--key", tls + "/key.pem", "--ca", tls + "/root.pem"],
                                           stateDirectory: state)
    }

    @Test func aRemovedNodeIsRefusedByEveryAgentsServerWithinSeconds() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-remove")
        defer { directory.remove() }
        let (a, b, c) = (directory.path + "/a", directory.path + "/b", directory.path + "/c")
        let addressA = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
        let addressB = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
        #expect(try ProcessRunner.hypermesh(["mesh", "init", "--name", "family", "--node-name", "machine-a", "--listen", addressA],
                                            stateDirectory: a).status == 0)
        let agentA = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", a, "--http", "none"])
        defer { _ = agentA.stop() }
        #expect(try self.waitForReady(a))
        for (state, name, listen) in [(b, "machine-b", addressB), (c, "machine-c", "127.0.0.1:1")] {
            let token = try ProcessRunner.hypermesh(["mesh", "token"], stateDirectory: a).standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let joined = try ProcessRunner.hypermesh(["mesh", "join", addressA, "--token", token, "--node-name", name, "--listen", listen],
                                                     stateDirectory: state)
            #expect(joined.status == 0, "\(joined.standardError)")
        }
        // B's agent serves STOQ on the Mesh's listen address and keeps its CRL from A.
        let agentB = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", b, "--http", "none"])
        defer { _ = agentB.stop() }
        #expect(try self.waitForReady(b))
        for server in [addressA, addressB] {
            let before = try self.probe(server, from: c, into: directory.path)
            #expect(before.standardError.contains("no such file"), "\(server): \(before.standardError)")
        }

        let removed = try ProcessRunner.hypermesh(["mesh", "remove", "machine-c", "-o", "json"], stateDirectory: a)
        #expect(removed.status == 0, "\(removed.standardError)")
        let start = Date()
        var refusedBy: [String: TimeInterval] = [:]
        while refusedBy.count < 2 && Date().timeIntervalSince(start) < 10 {
            for server in [addressA, addressB] where refusedBy[server] == nil {
                let probe = try self.probe(server, from: c, into: directory.path)
                if probe.status != 0 && !probe.standardError.contains("no such file") {
                    // Refused at the handshake, or — when the probe was connected as the CRL arrived — closed for it.
                    #expect(probe.standardError.contains("refused") || probe.standardError.contains("certificate revoked"),
                            "\(probe.standardError)")
                    refusedBy[server] = Date().timeIntervalSince(start)
                }
            }
            usleep(200_000)
        }
        #expect(refusedBy.count == 2, "refused by \(refusedBy) within 10 s")
        print("removed node refused after: A \(refusedBy[addressA].map { String(format: "%.1f s", $0) } ?? "-"), "
            + "B \(refusedBy[addressB].map { String(format: "%.1f s", $0) } ?? "-")")
        // Members carry on: B is still accepted by A.
        #expect(try self.probe(addressA, from: b, into: directory.path).standardError.contains("no such file"))

        // `get nodes`, on any member: A (the CA node) and B (heartbeating) Ready, C Revoked.
        #expect(self.waitForNodes(on: b, ["machine-a": "Ready", "machine-b": "Ready", "machine-c": "Revoked"], timeout: 10),
                "\((try? self.nodes(on: b)) ?? [:])")
        let table = try ProcessRunner.hypermesh(["get", "nodes"], stateDirectory: a).standardOutput
        #expect(table.contains("NAME") && table.contains("LAST-SEEN") && table.contains(addressB), "\(table)")
        // B's agent stops: A shows it Lost within 20 s (heartbeats every 3 s, Lost after 10 s of silence).
        _ = agentB.stop()
        let stopped = Date()
        #expect(self.waitForNodes(on: a, ["machine-a": "Ready", "machine-b": "Lost", "machine-c": "Revoked"], timeout: 20),
                "\((try? self.nodes(on: a)) ?? [:])")
        print("stopped node Lost after \(String(format: "%.1f", Date().timeIntervalSince(stopped))) s")
    }

    /// `mesh init` makes this node the mesh's one validator; its agent runs the validator itself, on the same
    /// port as everything else: operations submitted there are committed into STATE/consensus/ledger.sqlite.
    @Test func theCANodesAgentHostsItsValidatorOnItsOnePort() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-validator")
        defer { directory.remove() }
        let state = directory.path + "/a"
        let port = try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue))
        let initialized = try ProcessRunner.hypermesh(["mesh", "init", "--name", "family", "--node-name", "machine-a", "--listen",
                                                       "127.0.0.1:\(port)", "-o", "json"], stateDirectory: state)
        #expect(initialized.status == 0, "\(initialized.standardError)")
        let nodeID = try #require(try JSONValue(parsingJSON: initialized.standardOutput)["nodeId"]?.stringValue)
        let agent = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", state, "--http", "none"])
        defer { _ = agent.stop() }
        #expect(try self.waitForReady(state))
        let tls = ["--cert", state + "/stoq/chain.pem", "--key", state + "/stoq/key.pem", "--ca", state + "/stoq/root.pem"]
        let submitted = try ProcessRunner.hypermesh(["consensus", "submit", "--kind", "stake", "--amount", "7"] + tls, stateDirectory: state)
        #expect(submitted.status == 0, "\(submitted.standardOutput)\(submitted.standardError)")
        let deadline = Date().addingTimeInterval(15)
        var stake: Int64?
        while Date() < deadline && stake != 7 {
            let ledger = try ProcessRunner.hypermesh(["consensus", "ledger", "-o", "json"], stateDirectory: state)
            stake = (try? JSONValue(parsingJSON: ledger.standardOutput))?["stakes"]?[nodeID]?.integerValue
            if stake != 7 { usleep(200_000) }
        }
        #expect(stake == 7, "the hosted validator did not commit the stake")
        // One UDP socket for the agent: the validator has none of its own.
        let sockets = try String(contentsOfFile: "/proc/net/udp", encoding: .utf8).split(separator: "\n")
            .filter { $0.contains(String(format: ":%04X ", port)) }
        #expect(sockets.count == 1, "\(sockets)")
    }

    /// A member's agent renews its node certificate through the CA node at two thirds of its life (a token
    /// can ask for short-lived certificates: here 1m, so the renewal comes after 40 s), and goes on being
    /// accepted with the new one.
    @Test func anAgentRenewsItsNodeCertificateBeforeItEnds() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-renew")
        defer { directory.remove() }
        let (a, b) = (directory.path + "/a", directory.path + "/b")
        let addressA = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
        let addressB = "127.0.0.1:\(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))"
        #expect(try ProcessRunner.hypermesh(["mesh", "init", "--name", "family", "--listen", addressA], stateDirectory: a).status == 0)
        let agentA = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", a, "--http", "none"])
        defer { _ = agentA.stop() }
        #expect(try self.waitForReady(a))
        let shortLived = try ProcessRunner.hypermesh(["mesh", "token", "--certificate-lifetime", "1m"], stateDirectory: a)
        let token = shortLived.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let tooShort = try ProcessRunner.hypermesh(["mesh", "token", "--certificate-lifetime", "10s"], stateDirectory: a)
        #expect(tooShort.status != 0 && tooShort.standardError.contains("at least 1m"), "\(tooShort.standardError)")
        let joined = try ProcessRunner.hypermesh(["mesh", "join", addressA, "--token", token, "--node-name", "machine-b",
                                                  "--listen", addressB, "-o", "json"], stateDirectory: b)
        #expect(joined.status == 0, "\(joined.standardError)")
        let firstSerial = try #require(try JSONValue(parsingJSON: joined.standardOutput)["serial"]?.stringValue)
        let agentB = try BackgroundProcess(PackageLayout.binary, ["agent", "--state-dir", b, "--http", "none"])
        defer { _ = agentB.stop() }
        #expect(try self.waitForReady(b))

        func serial() throws -> String {
            try openssl(["x509", "-in", b + "/stoq/cert.pem", "-noout", "-serial"]).standardOutput
                .replacingOccurrences(of: "serial=", with: "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        }
        #expect(try serial() == firstSerial)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? serial()) == firstSerial { usleep(500_000) }
        let renewed = try serial()
        #expect(renewed != firstSerial, "no renewal within 60 s of a 1m certificate")
        let tls = b + "/stoq"
        let verify = try openssl(["verify", "-CAfile", tls + "/root.pem", "-untrusted", tls + "/chain.pem", tls + "/cert.pem"])
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
        let dates = try openssl(["x509", "-in", tls + "/cert.pem", "-noout", "-startdate", "-enddate"]).standardOutput
        #expect(dates.contains("notAfter"), "\(dates)")
        // The renewed certificate is a member's: A accepts it, and B's own server presents it.
        #expect(try self.probe(addressA, from: b, into: directory.path).standardError.contains("no such file"))
        #expect(try self.probe(addressB, from: a, into: directory.path).standardError.contains("no such file"))
    }

    func nodes(on state: String) throws -> [String: String] {
        let result = try ProcessRunner.hypermesh(["get", "nodes", "-o", "json"], stateDirectory: state)
        guard let items = (try? JSONValue(parsingJSON: result.standardOutput))?["items"]?.arrayValue else { return [:] }
        var statuses: [String: String] = [:]
        for item in items {
            if let name = item["name"]?.stringValue, let status = item["status"]?.stringValue { statuses[name] = status }
        }
        return statuses
    }

    func waitForNodes(on state: String, _ expected: [String: String], timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? self.nodes(on: state)) == expected { return true }
            usleep(250_000)
        }
        return false
    }

    func waitForReady(_ state: String, timeout: TimeInterval = 20) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let result = try? ProcessRunner.hypermesh(["agent", "status"], stateDirectory: state),
               result.standardOutput.hasPrefix("ready") { return true }
            usleep(50_000)
        }
        return false
    }
}
