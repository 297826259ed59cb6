import Foundation
import HyperMeshTestSupport
import Testing

/// `MirrorPolicy` end to end: a node chunks and erasure-codes a tree, places the shards on STOQ peers
/// (`hypermesh stoq serve` processes, each with its own node certificate), and the tree is restored from
/// the peers alone; losing peers degrades the policy, the missing shards are placed on the survivors.
@Suite(.serialized)
struct MirrorTests {
    final class Lab {
        let directory: TemporaryDirectory
        var ids: [String] = []
        var ports: [Int] = []
        var peers: [BackgroundProcess?] = []
        var state: String { self.directory.path + "/node" }

        init(peerCount: Int) throws {
            self.directory = try TemporaryDirectory(prefix: "hypermesh-mirror")
            try Self.check(ProcessRunner.hypermesh(["ca", "init", "--name", "mirror"], stateDirectory: self.state))
            try Self.check(ProcessRunner.hypermesh(["ca", "issue", "--cn", "node", "--ip", "127.0.0.1", "--node-identity",
                                                    "--out", self.state + "/stoq"], stateDirectory: self.state))
            try FileManager.default.copyItem(atPath: self.state + "/ca/root.pem", toPath: self.state + "/stoq/root.pem")
            for index in 0..<peerCount {
                let peer = self.directory.path + "/peer\(index)"
                try FileManager.default.createDirectory(atPath: peer + "/root", withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(atPath: peer + "/ca", withDestinationPath: self.state + "/ca")
                try Self.check(ProcessRunner.hypermesh(["ca", "issue", "--cn", "peer\(index)", "--ip", "127.0.0.1", "--node-identity",
                                                        "--out", peer + "/tls"], stateDirectory: peer))
                let text = try String(contentsOfFile: peer + "/tls/cert.pem", encoding: .utf8)
                let san = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), ["x509", "-noout", "-ext", "subjectAltName"],
                                                standardInput: text).standardOutput
                self.ids.append(san.components(separatedBy: "hm://").last!.trimmingCharacters(in: .whitespacesAndNewlines))
                self.peers.append(nil)
                self.ports.append(0)
                try self.start(index)
            }
        }

        static func check(_ result: ProcessResult) throws {
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.standardError]) }
        }

        func start(_ index: Int) throws {
            let peer = self.directory.path + "/peer\(index)"
            let listen = self.ports[index] == 0 ? "127.0.0.1:0" : "127.0.0.1:\(self.ports[index])"
            let process = try BackgroundProcess(PackageLayout.binary, [
                "stoq", "serve", "--listen", listen, "--root", peer + "/root", "--cert", peer + "/tls/chain.pem",
                "--key", peer + "/tls/key.pem", "--ca", self.state + "/ca/root.pem", "--log-level", "error",
            ])
            let line = process.readLine() ?? ""
            self.ports[index] = Int(line.split(separator: ":").last ?? "") ?? 0
            #expect(self.ports[index] > 0, "\(line) \(process.standardError)")
            self.peers[index] = process
        }

        func stop(_ index: Int) {
            self.peers[index]?.stop()
            self.peers[index] = nil
        }

        func blobs(_ index: Int) -> Int {
            let root = self.directory.path + "/peer\(index)/root/.blobs"
            return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
                .filter { $0.count > 60 && !$0.hasPrefix("tmp") }.count
        }

        func hypermesh(_ arguments: [String]) throws -> ProcessResult {
            try ProcessRunner.hypermesh(arguments, stateDirectory: self.state)
        }

        func status() throws -> [String: Any] {
            let result = try self.hypermesh(["mirror", "status", "photos", "-o", "json"])
            return (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]) ?? [:]
        }
    }

    @Test func aTreeIsMirroredToAllowedPeersRestoredFromThemAndRepairedAfterLosses() throws {
        let lab = try Lab(peerCount: 5)
        defer {
            for index in 0..<5 { lab.stop(index) }
            lab.directory.remove()
        }
        // A 24 MiB tree (random files, one duplicate, one empty).
        let source = lab.directory.path + "/photos"
        for (name, size) in [("2024/a.raw", 9 << 20), ("2024/b.raw", 7 << 20), ("2025/c.raw", 5 << 20), ("notes.txt", 3_000), ("empty", 0)] {
            let path = source + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Lab.check(ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "head -c \(size) /dev/urandom > '\(path)'"]))
        }
        try FileManager.default.copyItem(atPath: source + "/2025/c.raw", toPath: source + "/2025/c-copy.raw")
        // Peers 0–3 are allowed; peer 4 is known to the mesh but outside the policy's placement.
        let validators = (0..<5).map { "    - {id: \(lab.ids[$0]), address: \"127.0.0.1:\(lab.ports[$0])\"}" }.joined(separator: "\n")
        let allowed = lab.ids.prefix(4).joined(separator: ", ")
        let yaml = """
            apiVersion: hypermesh/v1
            kind: Mesh
            metadata: {name: home}
            spec:
              node: {name: node}
              validators:
            \(validators)
            ---
            apiVersion: hypermesh/v1
            kind: MirrorPolicy
            metadata: {name: photos}
            spec:
              source: \(source)
              erasure: {data: 4, parity: 2}
              placement: {minCopies: 3, privacy: p2p, peers: [\(allowed)]}
              repairInterval: 1m
            """
        try yaml.write(toFile: lab.directory.path + "/specs.yaml", atomically: true, encoding: .utf8)
        let applied = try lab.hypermesh(["apply", "-f", lab.directory.path + "/specs.yaml"])
        #expect(applied.status == 0, "\(applied.standardError)")
        var status = try lab.status()
        #expect(status["reason"] as? String == "Replicated", "\(status)")
        #expect(status["files"] as? Int == 6 && status["underReplicated"] as? Int == 0)
        let shards = status["shards"] as? Int ?? 0
        #expect((0..<4).map { lab.blobs($0) }.reduce(0, +) == shards)
        #expect(lab.blobs(4) == 0, "a peer outside the placement never receives a shard")
        #expect(try lab.hypermesh(["mirror", "verify", "photos"]).status == 0)

        // The source is deleted and this node's copies put aside: the peers' shards alone are enough.
        func restoreFromPeersAlone(into name: String) throws {
            try FileManager.default.moveItem(atPath: lab.state + "/mirror/shards", toPath: lab.state + "/mirror/shards.aside")
            defer {
                try? FileManager.default.removeItem(atPath: lab.state + "/mirror/shards")
                try? FileManager.default.moveItem(atPath: lab.state + "/mirror/shards.aside", toPath: lab.state + "/mirror/shards")
            }
            let restored = try lab.hypermesh(["mirror", "restore", "photos", "--to", lab.directory.path + "/" + name])
            #expect(restored.status == 0, "\(restored.standardError)")
            #expect(restored.standardOutput.hasPrefix("restored 6 files"))
            #expect(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/diff"), ["-r", source + ".original",
                                                                               lab.directory.path + "/" + name]).status == 0)
        }
        try FileManager.default.moveItem(atPath: source, toPath: source + ".original")
        try restoreFromPeersAlone(into: "restored")

        // Two allowed peers die: two are left, fewer than minCopies 3 — Degraded; every shard the dead held
        // is placed again on the survivors, from this node's copies.
        lab.stop(0)
        lab.stop(1)
        #expect(try lab.hypermesh(["reconcile"]).status == 0)
        status = try lab.status()
        #expect(status["reason"] as? String == "UnderReplicated", "\(status)")
        #expect(lab.blobs(2) + lab.blobs(3) == shards)
        try restoreFromPeersAlone(into: "restored-again")

        // One comes back: three peers hold the stripes again, back to Ready.
        try lab.start(0)
        #expect(try lab.hypermesh(["reconcile"]).status == 0)
        status = try lab.status()
        #expect(status["reason"] as? String == "Replicated", "\(status)")
        #expect(lab.blobs(4) == 0)
    }

    @Test func badNamesAndMissingManifestsAreClearErrors() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-mirror-errors")
        defer { directory.remove() }
        let missing = try ProcessRunner.hypermesh(["mirror", "restore", "nope", "--to", directory.path + "/out"], stateDirectory: directory.path)
        #expect(missing.status == 1 && missing.standardError.contains("no MirrorPolicy named nope"))
        let yaml = """
            apiVersion: hypermesh/v1
            kind: MirrorPolicy
            metadata: {name: gone}
            spec:
              source: \(directory.path)/does-not-exist
            """
        try yaml.write(toFile: directory.path + "/m.yaml", atomically: true, encoding: .utf8)
        _ = try ProcessRunner.hypermesh(["apply", "-f", directory.path + "/m.yaml"], stateDirectory: directory.path)
        let status = try ProcessRunner.hypermesh(["mirror", "status", "gone"], stateDirectory: directory.path)
        #expect(status.standardOutput.contains("SourceMissing"), "\(status.standardOutput)")
        let verify = try ProcessRunner.hypermesh(["mirror", "verify", "gone"], stateDirectory: directory.path)
        #expect(verify.status == 1 && verify.standardError.contains("has no manifest yet"))
    }
}
