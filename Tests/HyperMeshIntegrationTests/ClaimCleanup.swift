import Foundation
import HyperMeshCore
import HyperMeshTestSupport

/// Deletes every claim in a test's state directory, so nothing a test bound stays on the host.
enum ClaimCleanup {
    static func releaseAll(stateDirectory: String) {
        guard FileManager.default.fileExists(atPath: stateDirectory),
              let names = try? ProcessRunner.hypermesh(["get", "claims", "-o", "name"], stateDirectory: stateDirectory).standardOutput
        else { return }
        for line in names.split(separator: "\n") {
            _ = try? ProcessRunner.hypermesh(["delete", "claim", String(line.dropFirst("claim/".count))], stateDirectory: stateDirectory)
        }
        // Pools keep their hypermesh/<pool> cgroup parents until they are deleted.
        let pools = (try? ProcessRunner.hypermesh(["get", "pools", "-o", "name"], stateDirectory: stateDirectory).standardOutput) ?? ""
        for line in pools.split(separator: "\n") {
            _ = try? ProcessRunner.hypermesh(["delete", "pool", String(line.dropFirst("pool/".count))], stateDirectory: stateDirectory)
        }
    }
}
