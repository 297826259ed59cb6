import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// Pools and claims on the real kernel: cgroup limits, loop-mounted volumes, capacity,
/// maxPerClaim, privacy, release on delete. Skips with a printed reason without root cgroups.
@Suite(.serialized)
struct AllocationTests {
    static var canEnforce: Bool {
        guard geteuid() == 0 else {
            print("skipped: allocation enforcement tests need root")
            return false
        }
        guard let mounts = FileManager.default.contents(atPath: "/proc/self/mounts"),
              String(decoding: mounts, as: UTF8.self).contains(" cgroup") else {
            print("skipped: no cgroup filesystem")
            return false
        }
        return true
    }

    struct Setup {
        let directory: TemporaryDirectory
        let pool: String
        var state: String { self.directory.path + "/state" }

        func hm(_ arguments: [String], input: String? = nil) throws -> ProcessResult {
            try ProcessRunner.hypermesh(arguments, stateDirectory: self.state, standardInput: input)
        }

        func claim(_ name: String) throws -> JSONValue {
            try JSONValue(parsingJSON: try self.hm(["get", "claim", name, "-o", "json"]).standardOutput)
        }

        func claimSpec(_ name: String, _ fields: String) -> String {
            "---\napiVersion: hypermesh/v1\nkind: Claim\nmetadata: {name: \(name)}\nspec: {pool: \(self.pool), \(fields)}\n"
        }
    }

    func withPool(privacy: String = "private", _ body: (Setup) throws -> Void) throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-alloc")
        let setup = Setup(directory: directory, pool: "tp\(getpid() % 100_000)")
        defer {
            ClaimCleanup.releaseAll(stateDirectory: setup.state)
            directory.remove()
        }
        let pool = """
            apiVersion: hypermesh/v1
            kind: ResourcePool
            metadata: {name: \(setup.pool)}
            spec:
              privacy: \(privacy)
              cpu: {cores: 1, maxPerClaim: 1}
              memory: {size: 512Mi, maxPerClaim: 256Mi}
              storage: {path: \(directory.path)/pool, size: 64Mi}
            """
        let applied = try setup.hm(["apply", "-f", "-"], input: pool)
        try #require(applied.status == 0, "\(applied.standardError)")
        try body(setup)
    }

    @Test func boundClaimIsEnforcedByTheKernelAndReleasedOnDelete() throws {
        guard Self.canEnforce else { return }
        try withPool { setup in
            let apply = try setup.hm(["apply", "-f", "-", "--wait=10s"], input: setup.claimSpec("work", "cpu: 500m, memory: 128Mi, storage: 16Mi"))
            #expect(apply.status == 0, "\(apply.standardError)")
            let claim = try setup.claim("work")
            #expect(claim.value(atPath: "status.phase") == "Bound")
            let cgroups = claim.value(atPath: "status.cgroups")?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(!cgroups.isEmpty)

            // CPU: a busy loop under exec is throttled to about half a core.
            let cpuDirectory = try #require(cgroups.first { $0.contains("/cpu/") || $0.hasSuffix("/hypermesh/\(setup.pool)/work") })
            let before = try String(contentsOfFile: cpuDirectory + "/cpu.stat", encoding: .utf8)
            let busy = try setup.hm(["exec", "--claim", "work", "--", "timeout", "2", "sh", "-c", "while :; do :; done"])
            #expect(busy.status == 124)
            let after = try String(contentsOfFile: cpuDirectory + "/cpu.stat", encoding: .utf8)
            func throttled(_ text: String) -> Int { text.split(separator: "\n").first { $0.hasPrefix("nr_throttled ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0 }
            #expect(throttled(after) > throttled(before))

            // Memory: allocating twice the limit is OOM-killed, and the claim's events say so.
            let hog = try setup.hm(["exec", "--claim", "work", "--", "python3", "-c", "b = bytearray(256 << 20)"])
            #expect(hog.status == 137 || hog.status == -1 || hog.status == 9, "exit \(hog.status)")
            _ = try setup.hm(["reconcile"])
            #expect(try setup.hm(["describe", "claim", "work"]).standardOutput.contains("OOMKilled"))

            // Storage: a 16Mi volume refuses 32Mi.
            let fill = try setup.hm(["exec", "--claim", "work", "--", "sh", "-c", "dd if=/dev/zero of=\"$HYPERMESH_STORAGE/big\" bs=1M count=32"])
            #expect(fill.status != 0 && fill.standardError.contains("No space left"))
            let storage = try #require(claim.value(atPath: "status.storageDirectory")?.stringValue)

            // A pool with a bound claim waits for it.
            #expect(try setup.hm(["delete", "pool", setup.pool]).status == 1)
            #expect(try setup.hm(["get", "pool", setup.pool]).standardOutput.contains("Terminating"))

            #expect(try setup.hm(["delete", "claim", "work"]).status == 0)
            #expect(cgroups.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
            let mounts = String(decoding: FileManager.default.contents(atPath: "/proc/self/mounts") ?? Data(), as: UTF8.self)
            #expect(!mounts.contains(storage))
            _ = try setup.hm(["reconcile"])
            #expect(try setup.hm(["get", "pool", setup.pool]).status == 1)
        }
    }

    @Test func capacityMaxPerClaimAndPrivacyDecidePlacement() throws {
        guard Self.canEnforce else { return }
        try withPool { setup in
            _ = try setup.hm(["apply", "-f", "-"], input: setup.claimSpec("first", "cpu: 600m"))
            _ = try setup.hm(["apply", "-f", "-"], input: setup.claimSpec("second", "cpu: 600m"))
            #expect(try setup.claim("first").value(atPath: "status.phase") == "Bound")
            let second = try setup.claim("second")
            #expect(second.value(atPath: "status.phase") == "Pending")
            #expect(second.value(atPath: "status.conditions[0].reason") == "InsufficientCapacity")
            let poolStatus = try JSONValue(parsingJSON: try setup.hm(["get", "pool", setup.pool, "-o", "json"]).standardOutput)
            #expect(poolStatus.value(atPath: "status.allocated.cpu") == "600m")
            #expect(poolStatus.value(atPath: "status.free.cpu") == "400m")

            // Level-triggered: once the first is gone, the second binds by itself on the next pass.
            _ = try setup.hm(["delete", "claim", "first"])
            _ = try setup.hm(["reconcile"])
            #expect(try setup.claim("second").value(atPath: "status.phase") == "Bound")

            _ = try setup.hm(["apply", "-f", "-"], input: setup.claimSpec("greedy", "memory: 300Mi"))
            let greedy = try setup.claim("greedy")
            #expect(greedy.value(atPath: "status.phase") == "Failed")
            #expect(greedy.value(atPath: "status.conditions[0].reason") == "ExceedsMaxPerClaim")

            _ = try setup.hm(["apply", "-f", "-"], input: setup.claimSpec("nogpu", "gpu: {count: 1}"))
            #expect(try setup.claim("nogpu").value(atPath: "status.conditions[0].reason") == "ResourceNotOffered")

            _ = try setup.hm(["apply", "-f", "-"], input: setup.claimSpec("stranger", "cpu: 100m, consumer: \"group:strangers\""))
            let stranger = try setup.claim("stranger")
            #expect(stranger.value(atPath: "status.phase") == "Failed")
            #expect(stranger.value(atPath: "status.conditions[0].reason") == "PrivacyDenied")

            let notBound = try setup.hm(["exec", "--claim", "stranger", "--", "true"])
            #expect(notBound.status == 1 && notBound.standardError.contains("not Bound"))
        }
    }
}
