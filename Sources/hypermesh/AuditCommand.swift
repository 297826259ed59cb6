import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshContainers
import HyperMeshCore

/// `hypermesh audit`: this node's containers against its Workloads, both ways.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Compare this node's containers with its Workloads: orphans either way.",
        discussion: """
            Lists containers (replica files, crun state) that no Workload owns, and replicas a Workload
            reports Running or Starting whose container is not running. The agent removes the first kind and
            restarts the second on its next pass; a finding that stays says something is wrong. For the
            mesh ledger against this node's claims, see `hypermesh mesh audit`.
            Exit status 0: nothing found; 1: findings (listed).

            Examples:
              hypermesh audit
              hypermesh audit -o json | jq '.findings | length'
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Output format: table or json.") var output: OutputFormat = .table

    func run() throws {
        let store = try self.global.openWorkspace().store
        let runtime = ContainerRuntime(stateDirectory: self.global.stateDirectory)
        let workloads = Dictionary(uniqueKeysWithValues: try store.objects(of: .workload).map { ($0.key.name, $0) })
        var findings: [(kind: String, container: String, detail: String)] = []
        var seen: Set<String> = []
        for files in runtime.replicasOnDisk() {
            seen.insert(files.containerID)
            let wanted = workloads[files.workload].map { Int($0.spec["replicas"]?.integerValue ?? 1) } ?? 0
            if files.index >= wanted {
                findings.append(("ContainerWithoutWorkload", files.containerID, workloads[files.workload] == nil
                    ? "workload \(files.workload) does not exist" : "workload \(files.workload) wants \(wanted) replica(s)"))
            }
        }
        for id in runtime.containersKnownToCrun() where !seen.contains(id) {
            findings.append(("ContainerWithoutWorkload", id, "crun knows it; no replica files"))
        }
        for (name, object) in workloads.sorted(by: { $0.key < $1.key }) {
            for replica in object.status?.fields["replicas"]?.arrayValue ?? [] {
                guard let index = replica["index"]?.integerValue, ["Running", "Starting"].contains(replica["phase"]?.stringValue ?? "") else { continue }
                let files = runtime.replica(workload: name, index: Int(index))
                if !runtime.state(of: files).isActive {
                    findings.append(("WorkloadWithoutContainer", files.containerID,
                                     "status says \(replica["phase"]?.stringValue ?? "") but no container runs"))
                }
            }
        }
        switch self.output {
        case .json:
            Output.line(JSONValue.object(["findings": .array(findings.map {
                .object(["kind": .string($0.kind), "container": .string($0.container), "detail": .string($0.detail)])
            })]).prettyJSON())
        default:
            if findings.isEmpty {
                Output.line("No findings: every container has its Workload and every running replica its container.")
            } else {
                var table = TextTable(headers: ["FINDING", "CONTAINER", "DETAIL"])
                for finding in findings { table.append([finding.kind, finding.container, finding.detail]) }
                Output.line(table.rendered)
            }
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}
