import Foundation
import HyperMeshTestSupport
import Testing

/// Four `hypermesh consensus validator` processes on loopback, each with its own state directory, node key
/// and certificate from one mesh CA, ordering operations over STOQ.
@Suite(.serialized)
struct ConsensusValidatorTests {
    final class Lab {
        let directory: TemporaryDirectory
        var ports: [Int] = []
        var nodeIDs: [String] = []
        var validators: [BackgroundProcess?] = [nil, nil, nil, nil]

        func state(_ index: Int) -> String { self.directory.path + "/s\(index)" }
        func tls(_ index: Int) -> [String] {
            ["--cert", self.directory.path + "/tls\(index)/chain.pem", "--key", self.directory.path + "/tls\(index)/key.pem",
             "--ca", self.state(0) + "/ca/root.pem"]
        }

        init() throws {
            self.directory = try TemporaryDirectory(prefix: "hypermesh-validators")
            try Self.check(ProcessRunner.hypermesh(["ca", "init", "--name", "lab"], stateDirectory: self.directory.path + "/s0"))
            for index in 0..<4 {
                if index > 0 {
                    // One CA for the lab: every state directory shares s0's.
                    try FileManager.default.createDirectory(atPath: self.state(index), withIntermediateDirectories: true)
                    try FileManager.default.createSymbolicLink(atPath: self.state(index) + "/ca", withDestinationPath: self.state(0) + "/ca")
                }
                try Self.check(ProcessRunner.hypermesh(["ca", "issue", "--cn", "v\(index)", "--ip", "127.0.0.1", "--node-identity",
                                                        "--out", self.directory.path + "/tls\(index)"], stateDirectory: self.state(index)))
                let text = try String(contentsOfFile: self.directory.path + "/tls\(index)/cert.pem", encoding: .utf8)
                let san = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), ["x509", "-noout", "-ext", "subjectAltName"],
                                                standardInput: text).standardOutput
                let id = san.components(separatedBy: "hm://").last!.trimmingCharacters(in: .whitespacesAndNewlines)
                self.nodeIDs.append(id)
                self.ports.append(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))
            }
            for index in 0..<4 {
                var yaml = """
                    apiVersion: hypermesh/v1
                    kind: Mesh
                    metadata: {name: lab}
                    spec:
                      node: {name: v\(index), listen: "127.0.0.1:\(self.ports[index])"}
                      consensus: {minimumStake: 1, maxClockDrift: 1m, requireSpace: true, spaceMinimumLeaves: 1024,
                                  spaceMinimumRounds: 64}
                      validators:

                    """
                for other in 0..<4 { yaml += "    - {id: \(self.nodeIDs[other]), address: \"127.0.0.1:\(self.ports[other])\"}\n" }
                let file = self.directory.path + "/mesh\(index).yaml"
                try yaml.write(toFile: file, atomically: true, encoding: .utf8)
                try Self.check(ProcessRunner.hypermesh(["apply", "-f", file], stateDirectory: self.state(index)))
            }
        }

        static func check(_ result: ProcessResult) throws {
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.standardError]) }
        }

        func start(_ index: Int) throws {
            let process = try BackgroundProcess(PackageLayout.binary, ["--state-dir", self.state(index), "consensus", "validator",
                                                                       "--log-level", "warning"] + self.tls(index))
            let line = process.readLine() ?? ""
            #expect(line == "validator \(index) of 4 listening on 127.0.0.1:\(self.ports[index])", "\(process.standardError)")
            self.validators[index] = process
        }

        func submit(from index: Int, _ arguments: [String]) throws -> String {
            let result = try ProcessRunner.hypermesh(["consensus", "submit"] + arguments + self.tls(index), stateDirectory: self.state(index))
            #expect(result.status == 0, "\(result.standardError)")
            return result.standardOutput
        }

        func ledger(_ index: Int) throws -> [String: Any] {
            let result = try ProcessRunner.hypermesh(["consensus", "ledger", "-o", "json"], stateDirectory: self.state(index))
            guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
            else { return [:] }
            return object
        }

        /// Waits (up to 90 s) until every listed validator has `operations` operations and all show one head.
        func waitForAgreement(_ indexes: [Int], operations: Int) throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(90)
            var ledgers: [[String: Any]] = []
            repeat {
                ledgers = try indexes.map { try self.ledger($0) }
                let heads = Set(ledgers.map { $0["head"] as? String ?? "" })
                if ledgers.allSatisfy({ $0["operations"] as? Int == operations }) && heads.count == 1 { return ledgers }
                Thread.sleep(forTimeInterval: 0.25)
            } while Date() < deadline
            return ledgers
        }

        func stopAll() {
            for process in self.validators.compactMap({ $0 }) { process.stop() }
            self.directory.remove()
        }
    }

    @Test func fourValidatorProcessesAgreeAndARestartedOneCatchesUp() throws {
        let lab = try Lab()
        defer { lab.stopAll() }
        for index in 0..<4 { try lab.start(index) }

        // 1,000 operations, 250 from each node, sent to every validator.
        for index in 0..<4 {
            #expect(try lab.submit(from: index, ["--kind", "stake", "--amount", "\(index + 1)", "--count", "250"])
                == "submitted 250 operation(s) to 4 of 4 validators\n")
        }
        var ledgers = try lab.waitForAgreement([0, 1, 2, 3], operations: 1000)
        #expect(ledgers.map { $0["operations"] as? Int } == [1000, 1000, 1000, 1000])
        #expect(Set(ledgers.map { $0["head"] as? String ?? "" }).count == 1, "\(ledgers)")
        #expect((ledgers[0]["stakes"] as? [String: Int])?[lab.nodeIDs[3]] == 1000)
        // One UDP socket per validator: its links to the other three leave from the port it listens on.
        for index in 0..<4 {
            let pid = try #require(lab.validators[index]).process.processIdentifier
            #expect(try ProcessSockets.udpPorts(of: pid) == [UInt16(lab.ports[index])], "validator \(index)")
        }

        // Validator 2 is killed; the other three go on without it.
        lab.validators[2]?.stop(signal: SIGKILL)
        lab.validators[2] = nil
        // The mesh demands proof of space for offered pools: a plot of this node's, answering a committed block.
        let missing = try ProcessRunner.hypermesh(["consensus", "submit", "--kind", "offerPool", "--subject", "gpu"] + lab.tls(0),
                                                  stateDirectory: lab.state(0))
        #expect(missing.status == 1 && missing.standardError.contains("demands proof of space: give the pool's plot with --plot"))
        let plotPath = lab.directory.path + "/pool-plot"
        let plotted = try ProcessRunner.hypermesh(["consensus", "plot", "--out", plotPath, "--leaves", "1024", "--rounds", "64"],
                                                  stateDirectory: lab.state(0))
        #expect(plotted.status == 0 && plotted.standardOutput.hasPrefix("plot \(plotPath): 1024 leaves × 64 rounds"), "\(plotted.standardError)")
        let foreign = try ProcessRunner.hypermesh(["consensus", "submit", "--kind", "offerPool", "--subject", "gpu", "--plot", plotPath]
                                                  + lab.tls(1), stateDirectory: lab.state(1))
        #expect(foreign.status == 1 && foreign.standardError.contains("is another node's plot"))
        #expect(try lab.submit(from: 0, ["--kind", "offerPool", "--subject", "gpu", "--amount", "8", "--plot", plotPath])
            .contains("to 3 of 4"))
        _ = try lab.waitForAgreement([0, 1, 3], operations: 1001)
        _ = try lab.submit(from: 1, ["--kind", "claim", "--subject", "gpu", "--amount", "3"])
        _ = try lab.submit(from: 3, ["--kind", "stake", "--count", "100"])
        ledgers = try lab.waitForAgreement([0, 1, 3], operations: 1102)
        #expect(ledgers.map { $0["operations"] as? Int } == [1102, 1102, 1102])
        #expect(ledgers.map { $0["coresClaimed"] as? Int } == [3, 3, 3])

        // Restarted from its ledger file, it catches up with what it missed and agrees again.
        try lab.start(2)
        ledgers = try lab.waitForAgreement([0, 1, 2, 3], operations: 1102)
        #expect(ledgers.map { $0["operations"] as? Int } == [1102, 1102, 1102, 1102])
        #expect(Set(ledgers.map { $0["head"] as? String ?? "" }).count == 1, "\(ledgers)")
        #expect(Set(ledgers.map { $0["height"] as? Int ?? 0 }).count == 1)
        // And takes part in what comes next.
        _ = try lab.submit(from: 2, ["--kind", "release", "--subject", "gpu"])
        _ = try lab.submit(from: 1, ["--kind", "release", "--subject", "gpu"])
        ledgers = try lab.waitForAgreement([0, 1, 2, 3], operations: 1104)
        #expect(ledgers.map { $0["coresClaimed"] as? Int } == [0, 0, 0, 0])
        for index in 0..<4 { #expect(lab.validators[index]?.stop() == 0) }
    }

    @Test func aNodeOutsideTheValidatorsOrWithoutAMeshIsToldSo() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-not-validator")
        defer { directory.remove() }
        let none = try ProcessRunner.hypermesh(["consensus", "validator", "--cert", "c", "--key", "k", "--ca", "r"],
                                               stateDirectory: directory.path)
        #expect(none.status == 1)
        #expect(none.standardError.contains("no Mesh in \(directory.path): apply one with spec.validators first"))
        let yaml = """
            apiVersion: hypermesh/v1
            kind: Mesh
            metadata: {name: other}
            spec:
              node: {name: n}
              validators:
                - {id: \(String(repeating: "ab", count: 32)), address: "127.0.0.1:9"}
            """
        try yaml.write(toFile: directory.path + "/mesh.yaml", atomically: true, encoding: .utf8)
        #expect(try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/mesh.yaml"], stateDirectory: directory.path).status == 0)
        let outside = try ProcessRunner.hypermesh(["consensus", "submit", "--cert", "c", "--key", "k", "--ca", "r"],
                                                  stateDirectory: directory.path)
        #expect(outside.status == 1)
        #expect(outside.standardError.contains("is not among Mesh other's current validators"), "\(outside.standardError)")
        let ledger = try ProcessRunner.hypermesh(["consensus", "ledger"], stateDirectory: directory.path)
        #expect(ledger.standardError.contains("no ledger at"), "\(ledger.standardError)")
        let count = try ProcessRunner.hypermesh(["consensus", "submit", "--count", "0", "--cert", "c", "--key", "k", "--ca", "r"],
                                                stateDirectory: directory.path)
        #expect(count.status != 0)
        #expect(count.standardError.contains("--count must be from 1 to 1000000"))
    }
}
