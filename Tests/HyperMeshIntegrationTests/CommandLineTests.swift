import Foundation
import HyperMeshCore
import HyperMeshStore
import HyperMeshTestSupport
import Testing

/// Runs the built `hypermesh` binary on real specs in a temporary state directory.
@Suite(.serialized)
struct CommandLineTests {
    static let examples = PackageLayout.root.appendingPathComponent("Examples/workstation").path

    func withState(_ body: (String, TemporaryDirectory) throws -> Void) throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-cli")
        let state = directory.url.appendingPathComponent("state").path
        defer {
            // Claims that bound (on a machine large enough for Examples/workstation/) hold cgroups and mounts: release them.
            ClaimCleanup.releaseAll(stateDirectory: state)
            directory.remove()
        }
        try body(state, directory)
    }

    func hm(_ arguments: [String], _ state: String, input: String? = nil) throws -> ProcessResult {
        try ProcessRunner.hypermesh(arguments, stateDirectory: state, standardInput: input)
    }

    func items(_ state: String) throws -> [JSONValue] {
        let result = try self.hm(["get", "all", "-o", "json"], state)
        try #require(result.status == 0, "\(result.standardError)")
        return try #require(try JSONValue(parsingJSON: result.standardOutput)["items"]?.arrayValue)
    }

    static func claim(_ name: String, cpu: String = "1", extra: String = "") -> String {
        "---\napiVersion: hypermesh/v1\nkind: Claim\nmetadata:\n  name: \(name)\nspec:\n  pool: workstation\n  cpu: \(cpu)\n\(extra)"
    }

    @Test func waitTakesItsDurationEitherWayAndBadBytesArePlaced() throws {
        try withState { state, directory in
            let spec = "apiVersion: hypermesh/v1\nkind: ResourcePool\nmetadata: {name: tiny}\nspec: {privacy: private, memory: {size: 1Mi}}\n"
            for wait in [["--wait", "30s"], ["--wait=30s"], ["--wait"]] {
                let result = try hm(["apply", "-f", "-"] + wait, state, input: spec)
                #expect(result.status == 0, "\(wait): \(result.standardError)")
            }
            let bad = try hm(["apply", "-f", "-", "--wait", "soon"], state, input: spec)
            #expect(bad.status == 1)  // "soon" is no duration: a bare --wait, then an unexpected argument
            let help = try hm(["apply", "--help"], state)
            #expect(help.standardOutput.contains("--wait 2m"))
            let file = directory.url.appendingPathComponent("latin1.yaml")
            try (Data("apiVersion: hypermesh/v1\nkind: ResourcePool\nmetadata: {name: caf".utf8) + Data([0xe9]) + Data("}\n".utf8))
                .write(to: file)
            let refused = try hm(["apply", "-f", file.path], state)
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("latin1.yaml:3:21: not UTF-8 text (byte 0xE9 at offset"), "\(refused.standardError)")
            #expect(try self.items(state).count == 1)  // nothing lost
        }
    }

    @Test func applyThenGetShowsWhatWasApplied() throws {
        try withState { state, _ in
            let apply = try hm(["apply", "-f", Self.examples], state)
            #expect(apply.status == 0, "\(apply.standardError)")
            #expect(apply.standardOutput.contains("pool/workstation created"))
            let items = try self.items(state)
            #expect(items.count == 5)
            let pool = try #require(items.first { $0["kind"] == "ResourcePool" })
            #expect(pool.value(atPath: "spec.cpu.cores") == "4")
            #expect(pool.value(atPath: "spec.memory.size") == "16Gi")
            #expect(pool.value(atPath: "metadata.generation") == 1)
            // Examples/workstation/ offers 4 cores and 16Gi: more than a small machine has.
            #expect(["ExceedsHost", "Available"].contains(pool.value(atPath: "status.conditions[0].reason")?.stringValue ?? ""))
            let mirror = try #require(items.first { $0["kind"] == "MirrorPolicy" })
            // Examples/workstation/ mirrors /srv/photos, which this machine does not have.
            #expect(mirror.value(atPath: "status.conditions[0].reason") == "SourceMissing")
            let mesh = try #require(items.first { $0["kind"] == "Mesh" })
            #expect(mesh.value(atPath: "status.conditions[0].status") == "True")
            #expect(mesh.value(atPath: "status.nodeId")?.stringValue?.count == 64)

            let table = try hm(["get", "pools"], state)
            #expect(table.standardOutput.hasPrefix("NAME"))
            for column in ["PRIVACY", "CPU", "MEMORY", "READY", "AGE"] { #expect(table.standardOutput.contains(column)) }
            let one = try hm(["get", "ResourcePool", "workstation", "-o", "yaml"], state)
            #expect(one.standardOutput.contains("name: workstation"))
            let names = try hm(["get", "all", "-o", "name"], state)
            #expect(names.standardOutput.split(separator: "\n").count == 5)
            let describe = try hm(["describe", "mesh", "home"], state)
            #expect(describe.standardOutput.contains("IdentityReady"))
            #expect(describe.standardOutput.contains("NodeKeyGenerated"))
        }
    }

    @Test func tablesReconcileAndSchemasCommands() throws {
        try withState { state, directory in
            _ = try hm(["apply", "-f", Self.examples], state)
            let all = try hm(["get", "all"], state)
            for expected in ["mesh/home", "cert/node-tls", "pool/workstation", "claim/batch", "mirror/photos",
                             "COMMON-NAME", "ERASURE", "10+4", "NODE-ID", "PHASE", "SourceMissing", "IdentityReady"] {
                #expect(all.standardOutput.contains(expected), "get all lacks \(expected)")
            }
            let reconcile = try hm(["reconcile"], state)
            #expect(reconcile.status == 0)
            #expect(reconcile.standardOutput == "reconciled 5, without controller 0, removed 0, failing 0\n")
            #expect(try hm(["reconcile", "--deadline", "soon"], state).status == 1)
            let empty = try hm(["get", "claims"], directory.path + "/empty-state")
            #expect(empty.status == 0 && empty.standardOutput.isEmpty && empty.standardError.contains("No objects found"))

            let out = directory.path + "/schemas"
            let schemas = try ProcessRunner.run(PackageLayout.binary, ["schemas", "--out", out])
            #expect(schemas.status == 0)
            for kind in Kind.allCases {
                let written = try String(contentsOfFile: out + "/\(kind.rawValue).schema.json", encoding: .utf8)
                let committed = try String(contentsOf: PackageLayout.root.appendingPathComponent("Specs/\(kind.rawValue).schema.json"),
                                           encoding: .utf8)
                #expect(written == committed)
            }
            let describe = try hm(["describe", "mirror", "photos", "--events", "1"], state)
            #expect(describe.standardOutput.contains("SourceMissing"))
            #expect(try hm(["describe", "all", "x"], state).status == 1)
            #expect(try hm(["describe", "claim", "missing"], state).standardError == "error: Claim \"missing\" not found\n")
            #expect(try hm(["get", "all", "x"], state).status == 1)
            #expect(try hm(["delete", "claim"], state).status == 1)
            #expect(try hm(["delete", "all", "x"], state).status == 1)
            #expect(try hm(["delete", "claim", "x", "-f", Self.examples], state).status == 1)
            let json = try hm(["apply", "-f", Self.examples + "/mesh.yaml", "-o", "json"], state)
            #expect(try JSONValue(parsingJSON: json.standardOutput).value(atPath: "changes[0].action") == "unchanged")
        }
    }

    /// What `make demo` does, in a temporary directory: every object of Examples/demo/ is Ready on whatever
    /// machine runs it (the pool gives shares of the host), and deleting them releases what the claim bound.
    @Test func demoSpecsAreReadyOnAnyMachineAndDeleteReleasesThem() throws {
        try withState { state, directory in
            let demo = directory.path
            let files = demo + "/files"
            try FileManager.default.createDirectory(atPath: files + "/notes", withIntermediateDirectories: true)
            try Data("Files the demo mirrors.\n".utf8).write(to: URL(fileURLWithPath: files + "/README.txt"))
            try Data((1...5000).map { "\($0)\n" }.joined().utf8).write(to: URL(fileURLWithPath: files + "/notes/numbers.txt"))
            let specs = demo + "/specs"
            try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
            let source = PackageLayout.root.appendingPathComponent("Examples/demo")
            for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name.hasSuffix(".yaml") {
                let text = try String(contentsOf: source.appendingPathComponent(name), encoding: .utf8)
                try Data(text.replacingOccurrences(of: "${DEMO_DIR}", with: demo).utf8)
                    .write(to: URL(fileURLWithPath: specs + "/" + name))
            }
            #expect(try hm(["ca", "init", "--name", "HyperMesh demo"], state).status == 0)
            let apply = try hm(["apply", "-f", specs], state)
            #expect(apply.status == 0, "\(apply.standardError)")
            let items = try self.items(state)
            #expect(items.count == 5)
            for item in items {
                let ready = item["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
                #expect(ready?["status"] == "True", "\(item["kind"] ?? "?") is not Ready: \(item["status"] ?? "no status")")
            }
            let pool = try #require(items.first { $0["kind"] == "ResourcePool" })
            #expect(pool.value(atPath: "spec.cpu.cores") == "50%")
            let table = try hm(["get", "pools"], state)
            #expect(table.standardOutput.contains("(50%)") && table.standardOutput.contains("(25%)"), "\(table.standardOutput)")
            let describe = try hm(["describe", "pool", "demo"], state)
            #expect(describe.standardOutput.contains("Observed Generation: 1"), "\(describe.standardOutput)")
            let again = try hm(["apply", "-f", specs], state)
            #expect(again.standardOutput.split(separator: "\n").allSatisfy { $0.hasSuffix(" unchanged") })

            let delete = try hm(["delete", "-f", specs], state)
            #expect(delete.status == 0, "\(delete.standardError)")
            #expect(try self.items(state).isEmpty)
            let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
            #expect(!mounts.contains(demo + "/pool"), "the claim's storage is still mounted")
        }
    }

    @Test func secondApplyChangesNothingAndDiffIsEmpty() throws {
        try withState { state, _ in
            _ = try hm(["apply", "-f", Self.examples], state)
            let before = try self.items(state)
            let again = try hm(["apply", "-f", Self.examples], state)
            #expect(again.status == 0)
            #expect(again.standardOutput.split(separator: "\n").allSatisfy { $0.hasSuffix(" unchanged") })
            let diff = try hm(["diff", "-f", Self.examples], state)
            #expect(diff.status == 0)
            #expect(diff.standardOutput.isEmpty)
            #expect(try self.items(state) == before)
        }
    }

    @Test func changedFieldMakesDiffExitTwoAndBumpsGenerationOnce() throws {
        try withState { state, directory in
            let file = try directory.write("claim.yaml", Self.claim("batch", cpu: "1500m"))
            _ = try hm(["apply", "-f", file], state)
            try directory.write("claim.yaml", Self.claim("batch", cpu: "2"))
            let diff = try hm(["diff", "-f", file], state)
            #expect(diff.status == 2)
            #expect(diff.standardOutput == "~ Claim/batch\n    ~ spec.cpu: 1500m -> 2\n")
            #expect(try hm(["apply", "-f", file], state).standardOutput == "claim/batch configured\n")
            #expect(try hm(["apply", "-f", file], state).standardOutput == "claim/batch unchanged\n")
            let claim = try #require(try self.items(state).first)
            #expect(claim.value(atPath: "metadata.generation") == 2)
            #expect(claim.value(atPath: "status.observedGeneration") == 2)
            #expect(try hm(["diff", "-f", file], state).status == 0)
        }
    }

    @Test func outputOfGetYAMLAppliesBackUnchanged() throws {
        try withState { state, _ in
            _ = try hm(["apply", "-f", Self.examples], state)
            let yaml = try hm(["get", "all", "-o", "yaml"], state)
            #expect(yaml.status == 0)
            let again = try hm(["apply", "-f", "-"], state, input: yaml.standardOutput)
            #expect(again.status == 0, "\(again.standardError)")
            #expect(again.standardOutput.split(separator: "\n").count == 5)
            #expect(again.standardOutput.split(separator: "\n").allSatisfy { $0.hasSuffix(" unchanged") })
        }
    }

    @Test func oneBadDocumentStoresNothing() throws {
        try withState { state, directory in
            _ = try hm(["apply", "-f", Self.examples], state)
            let store = try StateStore(directory: URL(fileURLWithPath: state))
            let eventsBefore = try store.events(limit: 1000)
            let before = try self.items(state)
            try directory.write("specs/a-good.yaml", Self.claim("extra"))
            try directory.write("specs/b-bad.yaml", Self.claim("broken", cpu: "lots"))
            let apply = try hm(["apply", "-f", directory.path + "/specs"], state)
            #expect(apply.status == 1)
            #expect(apply.standardError.contains(directory.path + "/specs/b-bad.yaml:8:8: error: spec.cpu:"))
            #expect(apply.standardOutput.isEmpty)
            #expect(try self.items(state) == before)
            #expect(try store.events(limit: 1000) == eventsBefore)
        }
    }

    @Test func pruneDeletesOnlyItsOwnApplySet() throws {
        try withState { state, directory in
            let a = try directory.write("a.yaml", Self.claim("a1") + Self.claim("a2"))
            let b = try directory.write("b.yaml", Self.claim("b1"))
            let free = try directory.write("free.yaml", Self.claim("free"))
            #expect(try hm(["apply", "-f", a, "--applyset", "set-a"], state).status == 0)
            #expect(try hm(["apply", "-f", b, "--applyset", "set-b"], state).status == 0)
            #expect(try hm(["apply", "-f", free], state).status == 0)
            try directory.write("a.yaml", Self.claim("a1"))
            let diff = try hm(["diff", "-f", a, "--prune", "--applyset", "set-a"], state)
            #expect(diff.status == 2)
            #expect(diff.standardOutput == "- Claim/a2\n")
            let prune = try hm(["apply", "-f", a, "--prune", "--applyset", "set-a"], state)
            #expect(prune.status == 0)
            #expect(prune.standardOutput.contains("claim/a2 pruned"))
            let names = try self.items(state).compactMap { $0.value(atPath: "metadata.name")?.stringValue }.sorted()
            #expect(names == ["a1", "b1", "free"])
            let misuse = try hm(["apply", "-f", a, "--prune"], state)
            #expect(misuse.status == 1)
            #expect(misuse.standardError.contains("--prune needs --applyset"))
        }
    }

    @Test func deleteRemovesAndMissingObjectExitsOne() throws {
        try withState { state, _ in
            _ = try hm(["apply", "-f", Self.examples], state)
            let delete = try hm(["delete", "claim", "batch"], state)
            #expect(delete.status == 0)
            #expect(delete.standardOutput == "claim/batch deleted\n")
            let missing = try hm(["delete", "claim", "batch"], state)
            #expect(missing.status == 1)
            #expect(missing.standardError == "error: Claim \"batch\" not found\n")
            let byFile = try hm(["delete", "-f", Self.examples + "/photos-mirror.yaml"], state)
            #expect(byFile.standardOutput == "mirror/photos deleted\n")
            #expect(try self.items(state).count == 3)
            #expect(try hm(["get", "claim", "batch"], state).status == 1)
        }
    }

    @Test func concurrentAppliesBothLand() throws {
        try withState { state, directory in
            _ = try hm(["apply", "-f", Self.examples], state)  // create the database first
            let first = try directory.write("first.yaml", (0..<300).map { Self.claim("first-\($0)") }.joined())
            let second = try directory.write("second.yaml", (0..<300).map { Self.claim("second-\($0)") }.joined())
            let results = LockedResults()
            let threads = [first, second].map { file in
                Thread { results.append((try? self.hm(["apply", "-f", file], state))?.status ?? -1) }
            }
            threads.forEach { $0.start() }
            while results.count < 2 { usleep(10_000) }
            #expect(results.values == [0, 0])
            #expect(try self.items(state).count == 605)
        }
    }

    @Test func readsStdinAndHonoursStateDirectoryForms() throws {
        try withState { state, _ in
            let viaStdin = try hm(["apply", "-f", "-"], state, input: Self.claim("piped"))
            #expect(viaStdin.status == 0, "\(viaStdin.standardError)")
            let leading = try ProcessRunner.run(PackageLayout.binary, ["--state-dir", state, "get", "claims", "-o", "name"])
            #expect(leading.standardOutput == "claim/piped\n")
            let fromEnvironment = try ProcessRunner.run(PackageLayout.binary, ["get", "claim", "-o", "name"],
                                                        environment: ["HYPERMESH_STATE_DIR": state])
            #expect(fromEnvironment.standardOutput == "claim/piped\n")
            let badStdin = try hm(["apply", "-f", "-"], state, input: "kind: Claim\nmetadata: {name: x}\n")
            #expect(badStdin.status == 1)
            #expect(badStdin.standardError.contains("<stdin>:1:1: error: apiVersion: required field is missing"))
        }
    }

    @Test func dryRunAndValidateStoreNothing() throws {
        try withState { state, _ in
            let dryRun = try hm(["apply", "-f", Self.examples, "--dry-run"], state)
            #expect(dryRun.status == 0)
            #expect(dryRun.standardOutput.contains("pool/workstation created (dry run)"))
            #expect(try self.items(state).isEmpty)
            let validate = try ProcessRunner.run(PackageLayout.binary, ["validate", "-f", Self.examples])
            #expect(validate.status == 0)
            #expect(validate.standardOutput == "5 documents valid\n")
            let json = try ProcessRunner.run(PackageLayout.binary, ["validate", "-f", Self.examples, "-o", "json"])
            #expect(try JSONValue(parsingJSON: json.standardOutput)["valid"] == true)
        }
    }

    @Test func exitCodesMeanSomething() throws {
        try withState { state, directory in
            let badFile = try directory.write("bad.yaml", Self.claim("x", cpu: "-1"))
            let invalid = try ProcessRunner.run(PackageLayout.binary, ["validate", "-f", badFile, "-o", "json"])
            #expect(invalid.status == 1)
            let report = try JSONValue(parsingJSON: invalid.standardOutput)
            #expect(report.value(atPath: "errors[0].line") == 8)
            #expect(report.value(atPath: "errors[0].field") == "spec.cpu")
            #expect(try hm(["get", "widgets"], state).status == 1)
            #expect(try ProcessRunner.run(PackageLayout.binary, ["frobnicate"]).status == 1)
            #expect(try ProcessRunner.run(PackageLayout.binary, ["--help"]).status == 0)
            #expect(try ProcessRunner.run(PackageLayout.binary, ["apply", "--help"]).standardOutput.contains("Examples:"))
            #expect(try hm(["apply", "-f", directory.path + "/missing.yaml"], state).standardError
                .contains("missing.yaml: no such file or directory"))
            let completion = try ProcessRunner.run(PackageLayout.binary, ["--generate-completion-script", "bash"])
            #expect(completion.status == 0 && completion.standardOutput.contains("hypermesh"))
        }
    }

    @Test func waitGivesUpHonestlyOnObjectsThatCannotBeReady() throws {
        try withState { state, directory in
            let file = try directory.write("claim.yaml", Self.claim("waiting"))
            let wait = try hm(["apply", "-f", file, "--wait=1s"], state)
            #expect(wait.status == 1)
            #expect(wait.standardError.contains("Claim/waiting (PoolNotFound)"))
            let mesh = try hm(["apply", "-f", Self.examples + "/mesh.yaml", "--wait"], state)
            #expect(mesh.status == 0, "\(mesh.standardError)")
        }
    }
}

final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var statuses: [Int32] = []

    func append(_ status: Int32) {
        self.lock.lock()
        self.statuses.append(status)
        self.lock.unlock()
    }

    var count: Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.statuses.count
    }

    var values: [Int32] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.statuses
    }
}
