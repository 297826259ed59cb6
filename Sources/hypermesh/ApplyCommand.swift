import ArgumentParser
import Foundation
import HyperMeshAgent
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec
import HyperMeshStore

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Store specs and make them so (all or nothing).",
        discussion: """
            Every document is validated before anything is stored; one bad document and nothing
            changes. With no agent running, apply then runs one reconcile pass itself.

            Examples:
              hypermesh apply -f Examples/workstation/
              cat pool.yaml | hypermesh apply -f -
              hypermesh apply -f specs/ --prune --applyset laptop    # delete what specs/ no longer names
              hypermesh apply -f specs/ --wait 2m                    # until every object is Ready (or --wait=2m)
              hypermesh apply -f specs/ --wait                       # the same, for at most 5m
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("A file, a directory (recursively) or - for stdin.", valueName: "PATH"))
    var filename: [String] = []
    @Flag(help: "Show what would change; store nothing.") var dryRun = false
    @Flag(help: "Delete objects of --applyset that the input no longer names.") var prune = false
    @Option(help: ArgumentHelp("Record the applied objects as owned by this apply set.", valueName: "NAME"))
    var applyset: String?
    @Option(help: ArgumentHelp("Wait until the applied objects are Ready, at most DURATION: --wait 2m, --wait=2m, or a bare --wait (5m).", valueName: "DURATION"))
    var wait: String?
    @Option(name: .shortAndLong, help: "Output format: table (lines) or json.") var output: OutputFormat = .table

    func validate() throws {
        if self.filename.isEmpty { throw ValidationError("give at least one -f PATH") }
        if self.prune && self.applyset == nil { throw ValidationError("--prune needs --applyset NAME") }
        if let applyset, ResourceName.problem(with: applyset) != nil { throw ValidationError("--applyset: \(ResourceName.problem(with: applyset)!)") }
        if let wait {
            do { _ = try TimeSpan(parsing: wait) } catch { throw ValidationError("--wait: \(error)") }
        }
    }

    func run() async throws {
        let documents = try SpecLoading.loadReportingProblems(paths: self.filename)
        let workspace = try self.global.openWorkspace()
        let options = ApplyOptions(applyset: self.applyset, prune: self.prune, dryRun: self.dryRun)
        let changes = try workspace.store.apply(documents.map(\.desired), options: options)
        let suffix = self.dryRun ? " (dry run)" : ""
        if self.output == .json {
            Output.line(JSONValue.object([
                "dryRun": .bool(self.dryRun),
                "changes": .array(changes.map { ["object": .string($0.key.description), "action": .string($0.action.rawValue)] }),
            ]).prettyJSON())
        } else {
            for change in changes {
                Output.line("\(change.key.kind.shortName)/\(change.key.name) \(change.action.rawValue)\(suffix)")
            }
        }
        guard !self.dryRun else { return }
        // A running agent reconciles: wake it (and with --wait let it report), rather than race it.
        if let agent = AgentClient(stateDirectory: workspace.store.directory) {
            do {
                try self.handOver(to: agent, changes: changes, keys: documents.map(\.key), store: workspace.store)
                return
            } catch let error as HyperMeshError where error.code == .io {
                Output.warning("\(error.message); reconciling here instead")
            }
        }
        // Level-triggered but not wasteful: what this apply changed, plus whatever else is due.
        let due = Set(changes.filter { $0.action != .unchanged }.map(\.key)).union(try workspace.store.keysDue())
        let summary = try await workspace.reconcile(only: due.sorted())
        for (key, error) in summary.failed.sorted(by: { $0.key < $1.key }) {
            Output.warning("\(key): reconcile failed: \(error)")
        }
        if let wait {
            let timeout = try TimeSpan(parsing: wait)
            let notReady = try await workspace.waitUntilReady(documents.map(\.key), timeout: timeout.duration)
            if !notReady.isEmpty {
                let names = notReady.map { "\($0.key) (\($0.status?.condition(Condition.ready)?.reason ?? "Pending"))" }
                throw CommandFailure(message: "timed out after \(timeout) waiting for Ready: " + Self.listed(names))
            }
        }
    }

    /// The first names and how many more: a timeout on ten thousand objects should not print ten thousand names.
    static func listed(_ names: [String], limit: Int = 20) -> String {
        let shown = names.prefix(limit).joined(separator: ", ")
        return names.count > limit ? shown + " and \(names.count - limit) more (hypermesh get all shows them)" : shown
    }

    /// Wakes the agent for what changed and, with --wait, for the unchanged objects not Ready yet (what a user
    /// waiting expects to be tried again now); then, with --wait, asks it to answer once `keys` are Ready.
    private func handOver(to agent: AgentClient, changes: [ObjectChange], keys: [ResourceKey], store: StateStore) throws {
        var wake = changes.filter { $0.action != .unchanged }.map(\.key)
        if self.wait != nil {
            let ready = try store.readyKeys()
            wake += changes.filter { $0.action == .unchanged && !ready.contains($0.key) }.map(\.key)
        }
        _ = try agent.sendInBatches(LocalAPIMessage.Request(operation: .wake, keys: wake))
        guard let wait else { return }
        let timeout = try TimeSpan(parsing: wait)
        let reply = try agent.sendInBatches(LocalAPIMessage.Request(operation: .wait, keys: keys, timeout: timeout.duration),
                                            joining: "notReady")
        guard case .array(let pending)? = reply["notReady"], !pending.isEmpty else { return }
        let names = pending.compactMap { item -> String? in
            guard case .object(let members) = item, case .string(let object)? = members["object"] else { return nil }
            if case .string(let reason)? = members["reason"] { return "\(object) (\(reason))" }
            return object
        }
        throw CommandFailure(message: "timed out after \(timeout) waiting for Ready: " + Self.listed(names))
    }
}
