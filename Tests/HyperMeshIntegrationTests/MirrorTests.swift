import Foundation
import HyperMeshTestSupport
import Testing

/// `MirrorPolicy` end to end on five agents: one node's agent chunks and erasure-codes a 256 MiB tree and
/// places the shards on the agents its policy allows (each with its own state directory, node certificate
/// and STOQ port); the tree is restored from those agents alone; a change moves only the changed chunks;
/// losing agents degrades the policy and their shards are placed again on the survivors.
@Suite(.serialized)
struct MirrorTests {
    final class Lab {
        let directory: TemporaryDirectory
        var ids: [String] = []
        var ports: [Int] = []
        var peers: [BackgroundProcess?] = []
        var owner: BackgroundProcess?
        var state: String { self.directory.path + "/node" }
        var specs: String { self.directory.path + "/specs" }

        init(peerCount: Int) throws {
            self.directory = try TemporaryDirectory(prefix: "hypermesh-mirror")
            try Self.check(ProcessRunner.hypermesh(["ca", "init", "--name", "mirror"], stateDirectory: self.state))
            try Self.check(ProcessRunner.hypermesh(["ca", "issue", "--cn", "node", "--ip", "127.0.0.1", "--node-identity",
                                                    "--out", self.state + "/stoq"], stateDirectory: self.state))
            try FileManager.default.copyItem(atPath: self.state + "/ca/root.pem", toPath: self.state + "/stoq/root.pem")
            try FileManager.default.createDirectory(atPath: self.specs, withIntermediateDirectories: true)
            for index in 0..<peerCount {
                let peer = self.peerState(index)
                try FileManager.default.createDirectory(atPath: peer, withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(atPath: peer + "/ca", withDestinationPath: self.state + "/ca")
                try Self.check(ProcessRunner.hypermesh(["ca", "issue", "--cn", "peer\(index)", "--ip", "127.0.0.1", "--node-identity",
                                                        "--out", peer + "/stoq"], stateDirectory: peer))
                try FileManager.default.copyItem(atPath: self.state + "/ca/root.pem", toPath: peer + "/stoq/root.pem")
                let text = try String(contentsOfFile: peer + "/stoq/cert.pem", encoding: .utf8)
                let san = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), ["x509", "-noout", "-ext", "subjectAltName"],
                                                standardInput: text).standardOutput
                self.ids.append(san.components(separatedBy: "hm://").last!.trimmingCharacters(in: .whitespacesAndNewlines))
                self.peers.append(nil)
                self.ports.append(try freeLoopbackPort(Int32(SOCK_DGRAM.rawValue)))
                try self.start(index)
            }
        }

        static func check(_ result: ProcessResult) throws {
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.standardError]) }
        }

        func peerState(_ index: Int) -> String { self.directory.path + "/peer\(index)" }

        static func waitUntilReady(_ state: String) throws -> Bool {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if try ProcessRunner.hypermesh(["agent", "status"], stateDirectory: state).standardOutput.hasPrefix("ready") { return true }
                usleep(100_000)
            }
            return false
        }

        /// Peer `index`: an agent holding shards on its STOQ port.
        func start(_ index: Int) throws {
            let process = try BackgroundProcess(PackageLayout.binary, [
                "agent", "--state-dir", self.peerState(index), "--stoq", "127.0.0.1:\(self.ports[index])", "--http", "none",
                "--log-level", "warning",
            ])
            self.peers[index] = process
            #expect(try Self.waitUntilReady(self.peerState(index)), "peer \(index): \(process.standardError)")
        }

        func kill(_ index: Int) {
            self.peers[index]?.stop(signal: SIGKILL)
            self.peers[index] = nil
        }

        /// The node whose policy it is: an agent applying the specs in `specs/` as they change.
        func startOwner() throws {
            self.owner = try BackgroundProcess(PackageLayout.binary, [
                "agent", "--state-dir", self.state, "--watch", self.specs, "--http", "none",
            ])
            #expect(try Self.waitUntilReady(self.state))
        }

        func stopAll() {
            for index in self.peers.indices { self.peers[index]?.stop() }
            self.owner?.stop()
        }

        func blobs(_ index: Int) -> Int {
            let root = self.peerState(index) + "/stoq/served/.blobs"
            // `ab/abcdef…` (not the holders' links under `owners/`, nor `tmp/`).
            return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.utf8.count == 67 }.count
        }

        func hypermesh(_ arguments: [String]) throws -> ProcessResult {
            try ProcessRunner.hypermesh(arguments, stateDirectory: self.state)
        }

        func status() throws -> [String: Any] {
            let result = try self.hypermesh(["mirror", "status", "photos", "-o", "json"])
            return (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]) ?? [:]
        }

        /// Polls the policy's status until `condition` holds (at most `timeout` seconds); returns the last status.
        @discardableResult
        func waitForStatus(timeout: TimeInterval = 120, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
            let deadline = Date().addingTimeInterval(timeout)
            var status = try self.status()
            while !condition(status) && Date() < deadline {
                usleep(250_000)
                status = try self.status()
            }
            return status
        }
    }

    @Test func aTreeIsMirroredToAllowedAgentsRestoredFromThemAndRepairedAfterLosses() throws {
        let lab = try Lab(peerCount: 4)
        defer {
            lab.stopAll()
            lab.directory.remove()
        }
        // A 256 MiB tree: random files, one duplicate, one small, one empty.
        let source = lab.directory.path + "/photos"
        for (name, size) in [("2024/a.raw", 100 << 20), ("2024/b.raw", 76 << 20), ("2025/c.raw", 40 << 20), ("notes.txt", 3_000), ("empty", 0)] {
            let path = source + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Lab.check(ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "head -c \(size) /dev/urandom > '\(path)'"]))
        }
        try FileManager.default.copyItem(atPath: source + "/2025/c.raw", toPath: source + "/2025/c-copy.raw")
        // Peers 0–2 are allowed; peer 3 is known to the mesh but outside the policy's placement.
        let validators = (0..<4).map { "    - {id: \(lab.ids[$0]), address: \"127.0.0.1:\(lab.ports[$0])\"}" }.joined(separator: "\n")
        let allowed = lab.ids.prefix(3).joined(separator: ", ")
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
              repairInterval: 10m
            """
        try yaml.write(toFile: lab.specs + "/specs.yaml", atomically: true, encoding: .utf8)
        try lab.startOwner()
        var status = try lab.waitForStatus { $0["reason"] as? String == "Replicated" }
        #expect(status["reason"] as? String == "Replicated", "\(status)")
        #expect(status["files"] as? Int == 6 && status["underReplicated"] as? Int == 0)
        let shards = status["shards"] as? Int ?? 0
        #expect((0..<3).map { lab.blobs($0) }.reduce(0, +) == shards)
        #expect((0..<3).allSatisfy { lab.blobs($0) >= shards / 3 - 6 }, "round-robin: \((0..<3).map { lab.blobs($0) })")
        #expect(lab.blobs(3) == 0, "a peer outside the placement never receives a shard")
        #expect(try lab.hypermesh(["mirror", "verify", "photos"]).status == 0)

        // A byte flips in one of this node's shards: verify finds and quarantines it, the agent rebuilds it.
        let shardFiles = (FileManager.default.enumerator(atPath: lab.state + "/mirror/shards/chunks")?.allObjects as? [String] ?? [])
            .filter { $0.count > 60 }.sorted()
        let victim = lab.state + "/mirror/shards/chunks/" + shardFiles[shardFiles.count / 2]
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        let corrupt = try lab.hypermesh(["mirror", "verify", "photos"])
        #expect(corrupt.status == 1 && corrupt.standardError.contains("corrupt shard"), "\(corrupt.standardError)")
        var repaired = false
        for _ in 0..<120 where !repaired {
            usleep(250_000)
            repaired = try FileManager.default.fileExists(atPath: victim) && lab.hypermesh(["mirror", "verify", "photos"]).status == 0
        }
        #expect(repaired, "the quarantined shard is rebuilt from its stripe")

        // The middle of a file changes: the agent notices (inotify), and only the changed chunks move.
        let version = status["version"] as? String ?? ""
        try Lab.check(ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", """
            import sys
            p = sys.argv[1]; b = open(p, 'rb').read(); m = len(b) // 2
            open(p, 'wb').write(b[:m] + b'a few new bytes in the middle' + b[m:])
            """, source + "/2024/a.raw"]))
        status = try lab.waitForStatus { $0["version"] as? String != version && $0["reason"] as? String == "Replicated" }
        #expect(status["version"] as? String != version)
        // One or two new stripes (a stripe left mostly unused may be compacted into them): at most 12 shards move.
        let moved = (0..<3).map { lab.blobs($0) }.reduce(0, +) - shards
        #expect((1...12).contains(moved), "shards placed for the change: \(moved)")
        #expect(abs((status["shards"] as? Int ?? 0) - shards) <= 12)
        #expect(lab.owner?.standardErrorSoFar.contains("Mirror source changed") == true)

        // The version before the change is still restorable by its root id (keepVersions), from the peers alone.
        let older = try lab.hypermesh(["mirror", "restore", "photos", "--from-peers", "--version", version,
                                       "--to", lab.directory.path + "/older"])
        #expect(older.status == 0, "\(older.standardError)")
        let olderSize = (try? FileManager.default.attributesOfItem(atPath: lab.directory.path + "/older/2024/a.raw")[.size] as? Int) ?? 0
        #expect(olderSize == 100 << 20)
        #expect(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/cmp"), [source + "/2024/b.raw",
                                                                          lab.directory.path + "/older/2024/b.raw"]).status == 0)
        try? FileManager.default.removeItem(atPath: lab.directory.path + "/older")
        let unknown = try lab.hypermesh(["mirror", "restore", "photos", "--version", String(repeating: "ab", count: 32), "--to", "/tmp/x"])
        #expect(unknown.status == 1 && unknown.standardError.contains("keeps no version abab"), "\(unknown.standardError)")
        let malformed = try lab.hypermesh(["mirror", "restore", "photos", "--version", "../../etc", "--to", "/tmp/x"])
        #expect(malformed.status != 0 && malformed.standardError.contains("--version must be a root id of 64 hex digits"))

        // The source is deleted: the allowed agents' shards alone rebuild it.
        func restoreFromPeers(into name: String) throws {
            let restored = try lab.hypermesh(["mirror", "restore", "photos", "--from-peers", "--to", lab.directory.path + "/" + name])
            #expect(restored.status == 0, "\(restored.standardError)")
            #expect(restored.standardOutput.hasPrefix("restored 6 files"), "\(restored.standardOutput)")
            #expect(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/diff"), ["-r", source + ".original",
                                                                               lab.directory.path + "/" + name]).status == 0)
            try? FileManager.default.removeItem(atPath: lab.directory.path + "/" + name)
        }
        try FileManager.default.moveItem(atPath: source, toPath: source + ".original")
        try restoreFromPeers(into: "restored")

        // Two allowed agents die: this node and one peer are fewer than minCopies 3 — Degraded — and every
        // shard the dead held is placed again on the survivor.
        let total = status["shards"] as? Int ?? 0
        func onSurvivor(_ status: [String: Any]) -> Int { (status["shardsPlaced"] as? [String: Any])?[lab.ids[2]] as? Int ?? 0 }
        lab.kill(0)
        lab.kill(1)
        status = try lab.waitForStatus { $0["reason"] as? String == "UnderReplicated" && onSurvivor($0) == total }
        #expect(status["reason"] as? String == "UnderReplicated", "\(status)\n\(lab.owner?.standardErrorSoFar.suffix(4000) ?? "")")
        #expect(onSurvivor(status) == total, "the survivor holds every shard of the version")
        #expect(lab.owner?.standardErrorSoFar.contains("Mirror peer lost") == true, "the peer watcher noticed, not the periodic check")
        let described = try lab.hypermesh(["describe", "mirrorpolicy", "photos"]).standardOutput
        #expect(described.contains("UnderReplicated") && described.contains("ShardsPlaced"), "\(described)")
        try restoreFromPeers(into: "restored-again")

        // One comes back: three targets hold the stripes again, back to Ready.
        try lab.start(0)
        status = try lab.waitForStatus { $0["reason"] as? String == "Replicated" }
        #expect(status["reason"] as? String == "Replicated", "\(status)")
        #expect(lab.blobs(3) == 0)

        // The placement changes: peer 2 leaves it, peer 3 joins. While the peers now allowed cannot hold enough
        // (only peer 1, which is down, and peer 3), peer 2 keeps its copies; once they can (peer 0 allowed
        // again), peer 2 gives up every copy — the versions still use them, but no policy allowing peer 2 does.
        func placement(_ peers: [Int]) -> String {
            yaml.replacingOccurrences(of: "peers: [\(allowed)]", with: "peers: [\(peers.map { lab.ids[$0] }.joined(separator: ", "))]")
        }
        let onPeer2 = lab.blobs(2)
        try placement([1, 3]).write(toFile: lab.specs + "/specs.yaml", atomically: true, encoding: .utf8)
        func onPeer3(_ status: [String: Any]) -> Int { (status["shardsPlaced"] as? [String: Any])?[lab.ids[3]] as? Int ?? 0 }
        status = try lab.waitForStatus { $0["reason"] as? String == "UnderReplicated" && onPeer3($0) == total }
        #expect(status["reason"] as? String == "UnderReplicated" && onPeer3(status) == total, "\(status)")
        #expect(lab.blobs(2) == onPeer2, "a peer leaving the placement keeps its copies while the policy is under-replicated")
        try placement([0, 1, 3]).write(toFile: lab.specs + "/specs.yaml", atomically: true, encoding: .utf8)
        status = try lab.waitForStatus { $0["reason"] as? String == "Replicated" && lab.blobs(2) == 0 && lab.blobs(3) > 0 }
        #expect(status["reason"] as? String == "Replicated", "\(status)")
        #expect(lab.blobs(2) == 0 && lab.blobs(3) > 0, "peer 2: \(lab.blobs(2)), peer 3: \(lab.blobs(3))")
        #expect(try lab.hypermesh(["describe", "mirrorpolicy", "photos"]).standardOutput.contains("ShardsReleased"))

        // The policy is deleted (its spec leaves the watched directory) more than an hour after its shards were
        // stored (the test ages this node's records of them): its versions go, this node deletes its shards, and
        // the agents that answer delete the ones this node gave up; the dead agent keeps its copies.
        let deadHolds = lab.blobs(1)
        #expect(lab.blobs(0) > 0 && lab.blobs(3) > 0 && deadHolds > 0)
        try Lab.check(ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=30)
            db.execute('UPDATE chunks SET stored_at = stored_at - 7200')
            db.commit()
            """, lab.state + "/mirror/shards/chunks.db"]))
        try yaml.components(separatedBy: "\n---\n")[0].write(toFile: lab.specs + "/specs.yaml", atomically: true, encoding: .utf8)
        var gone = false
        for _ in 0..<240 where !gone {
            usleep(250_000)
            gone = try lab.hypermesh(["get", "mirrorpolicy", "photos"]).status != 0
        }
        #expect(gone, "\(lab.owner?.standardErrorSoFar.suffix(3000) ?? "")")
        #expect(!FileManager.default.fileExists(atPath: lab.state + "/mirror/manifests/photos.json"))
        #expect(!FileManager.default.fileExists(atPath: lab.state + "/mirror/manifests/photos.history"))
        let localShards = (FileManager.default.enumerator(atPath: lab.state + "/mirror/shards/chunks")?.allObjects as? [String] ?? [])
            .filter { $0.count > 60 }
        #expect(localShards.isEmpty, "\(localShards.count) shards left on this node")
        #expect(lab.blobs(0) == 0 && lab.blobs(3) == 0, "left on the answering agents: \(lab.blobs(0)), \(lab.blobs(3))")
        #expect(lab.blobs(1) == deadHolds)
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
