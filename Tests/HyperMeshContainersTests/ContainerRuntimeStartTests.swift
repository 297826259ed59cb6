@testable import HyperMeshContainers
import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Synchronization
import Testing

/// The runtime's start, with the real shim and a stand-in for crun that fails `create` after a moment: what the
/// agent sees from the moment `start` returns, and one runtime namespace however many starts run at once.
struct ContainerRuntimeStartTests {
    static func skipReason() -> String? {
        if geteuid() != 0 { return "the shim mounts an overlay and enters a mount namespace: needs root" }
        let runtime = ContainerRuntime(stateDirectory: URL(fileURLWithPath: "/nonexistent"))
        if !FileManager.default.isExecutableFile(atPath: runtime.shimPath) { return "hypermesh-shim is not built at \(runtime.shimPath)" }
        return nil
    }

    @Test func aStartedReplicaIsNeverSeenLostAndSharesOneNamespace() throws {
        if let reason = Self.skipReason() { return print("skipped: \(reason)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hypermesh-runtime-\(UUID().uuidString)")
        let crun = directory.appendingPathComponent("fake-crun").path
        let layer = directory.appendingPathComponent("layer").path
        try FileManager.default.createDirectory(atPath: layer, withIntermediateDirectories: true)
        try "#!/bin/sh\ncase \"$*\" in *create*) sleep 0.3; echo 'no such runtime' >&2; exit 1;; esac\nexit 0\n"
            .write(toFile: crun, atomically: true, encoding: .utf8)
        chmod(crun, 0o755)
        let runtime = ContainerRuntime(stateDirectory: directory, crunPath: crun, journalSocket: nil)
        let configuration = BundleConfiguration(
            arguments: ["/bin/true"], environment: [], workingDirectory: "/", userID: 0, groupID: 0, hostname: "t",
            readOnlyRoot: true, cgroupsPath: "/hypermesh-test/none", mounts: [], hostNetwork: false, annotations: [:])
        defer {
            for replica in runtime.replicasOnDisk() { runtime.killAndRemove(replica) }
            runtime.releaseNamespaceIfIdle()
            try? FileManager.default.removeItem(at: directory)
        }

        // Two starters at once, five starts each: every start is seen starting (its shim alive) at once, never
        // lost — a lost replica would be removed under crun's feet.
        let seen = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for round in 0..<5 {
                let replica = runtime.replica(workload: "w\(worker)", index: round)
                do {
                    try runtime.start(replica, configuration: configuration, lowerDirectories: [layer])
                    seen.withLock { $0.append("\(runtime.state(of: replica))") }
                } catch {
                    seen.withLock { $0.append("start failed: \(error)") }
                }
            }
        }
        #expect(seen.withLock { $0 }.allSatisfy { $0 == "starting" || $0.hasPrefix("exited") }, "\(seen.withLock { $0 })")
        if let namespace = runtime.namespace {
            let mountInfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
            let bound = mountInfo.split(separator: "\n").filter { $0.split(separator: " ").dropFirst(4).first.map(String.init) == namespace.file }
            #expect(bound.count == 1, "the namespace file is bound \(bound.count) times")
        }

        // Each ends with crun's refusal recorded, and once all are removed the namespace goes too.
        for replica in runtime.replicasOnDisk() {
            #expect(eventually(timeout: 10, every: 0.02) { if case .exited = runtime.state(of: replica) { true } else { false } })
            #expect(!runtime.didStart(replica))
            try runtime.remove(replica)
        }
        runtime.releaseNamespaceIfIdle()
        #expect(runtime.namespace?.exists != true)
    }

}
