import Foundation
import HyperMeshCore
import HyperMeshStore
import HyperMeshTestSupport
import Testing

/// `kill -9` during an apply leaves either all of it or none of it, and a sound database.
struct CrashSafetyTests {
    static let objectCount = 2000
    static let rounds = 6


    static func specs(round: Int) -> String {
        (0..<objectCount).map { index in
            "---\napiVersion: hypermesh/v1\nkind: Claim\nmetadata:\n  name: r\(round)-c\(index)\n  labels: {round: \"r\(round)\"}\n"
                + "spec:\n  pool: workstation\n  cpu: 500m\n  memory: 1Gi\n"
        }.joined()
    }

    @Test func killedApplyLeavesAllOrNothing() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-crash")
        defer { directory.remove() }
        let state = directory.url.appendingPathComponent("state")
        // Time one full apply to spread the kills over its whole length.
        let probe = try directory.write("probe.yaml", Self.specs(round: 99))
        let started = Date()
        let full = try ProcessRunner.hypermesh(["apply", "-f", probe], stateDirectory: state.path)
        try #require(full.status == 0, "\(full.standardError)")
        let fullSeconds = Date().timeIntervalSince(started)
        var random = SplitMix64(seed: 20261125)
        var outcomes: [String] = []
        for round in 0..<Self.rounds {
            let file = try directory.write("round\(round).yaml", Self.specs(round: round))
            let delay = Double(random.next() % 1000) / 1000 * fullSeconds
            let process = Process()
            process.executableURL = PackageLayout.binary
            process.arguments = ["apply", "--state-dir", state.path, "-f", file]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(useconds_t(delay * 1_000_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let store = try StateStore(directory: state)
            let landed = try store.objects(of: .claim).filter { $0.labels["round"] == "r\(round)" }.count
            #expect(landed == 0 || landed == Self.objectCount, "round \(round) killed after \(delay)s: \(landed) objects")
            #expect(try store.integrityCheck() == ["ok"])
            outcomes.append(landed == 0 ? "none" : "all")
        }
        let store = try StateStore(directory: state)
        #expect(try store.objects(of: .claim).filter { $0.labels["round"] == "r99" }.count == Self.objectCount)
        print("crash rounds (apply of \(Self.objectCount) objects takes \(fullSeconds)s): \(outcomes)")
    }
}
