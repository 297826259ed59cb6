import ArgumentParser
import Foundation
import HyperMeshAgent
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete objects, after their controllers released what they hold.",
        discussion: """
            All or nothing: if any named object does not exist, nothing is deleted. An object goes once its
            controller released what it holds (a claim's cgroups and mount, a certificate's files); a pool
            waits for its bound claims. With an agent running, the agent does that and delete waits for it;
            otherwise delete runs the cleanup itself. Exit 1 if anything is still there after --timeout.

            Examples:
              hypermesh delete claim batch
              hypermesh delete -f specs/old-pool.yaml
              hypermesh delete -f specs/ --timeout 5m
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: KindArgument.help) var kind: KindArgument?
    @Argument(help: "The object's name.") var name: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("Delete the objects these specs name.", valueName: "PATH"))
    var filename: [String] = []
    @Option(help: ArgumentHelp("Wait at most this long for the deletion to finish.", valueName: "DURATION"))
    var timeout: String = "1m"

    func validate() throws {
        do { _ = try TimeSpan(parsing: self.timeout) } catch { throw ValidationError("--timeout: \(error)") }
        if self.filename.isEmpty {
            guard let kind, self.name != nil else { throw ValidationError("give KIND NAME or -f PATH") }
            guard case .kind = kind else { throw ValidationError("delete needs one kind of object, not 'all' or 'sync'") }
        } else if self.kind != nil {
            throw ValidationError("give either KIND NAME or -f PATH, not both")
        }
    }

    func run() async throws {
        var keys: [ResourceKey] = []
        if let name, case .kind(let kind)? = self.kind {
            keys = [ResourceKey(kind: kind, name: name)]
        } else {
            keys = try SpecLoading.loadReportingProblems(paths: self.filename).map(\.key)
        }
        let workspace = try self.global.openWorkspace()
        let timeout = try TimeSpan(parsing: self.timeout).duration
        try workspace.store.requestDeletion(of: keys)
        // A running agent reconciles: let it clean up and wait for it, rather than race it for the same objects.
        if let agent = AgentClient(stateDirectory: workspace.store.directory) {
            do {
                try self.handOver(to: agent, keys: keys, timeout: timeout)
                return
            } catch let error as HyperMeshError where error.code == .io {
                Output.warning("\(error.message); cleaning up here instead")
            }
        }
        let summary = try await workspace.reconcile(only: keys, deadline: timeout)
        let removed = Set(summary.removed)
        var pending: [String] = []
        for key in keys {
            if removed.contains(key) {
                Output.line("\(key.kind.shortName)/\(key.name) deleted")
            } else {
                pending.append("\(key) (\(summary.failed[key] ?? "cleanup pending"))")
            }
        }
        try Self.failIfPending(pending)
    }

    private func handOver(to agent: AgentClient, keys: [ResourceKey], timeout: Duration) throws {
        let reply = try agent.sendInBatches(LocalAPIMessage.Request(operation: .waitRemoved, keys: keys, timeout: timeout),
                                            joining: "remaining")
        var remaining: [ResourceKey: String] = [:]
        if case .array(let items)? = reply["remaining"] {
            for case .object(let members) in items {
                guard case .string(let text)? = members["object"], let key = ResourceKey(parsing: text) else { continue }
                var why = "cleanup pending"
                if case .string(let message)? = members["message"], !message.isEmpty { why = message }
                remaining[key] = why
            }
        }
        var pending: [String] = []
        for key in keys {
            if let why = remaining[key] {
                pending.append("\(key) (\(why))")
            } else {
                Output.line("\(key.kind.shortName)/\(key.name) deleted")
            }
        }
        try Self.failIfPending(pending)
    }

    private static func failIfPending(_ pending: [String]) throws {
        guard !pending.isEmpty else { return }
        throw CommandFailure(message: "deletion requested but not finished, will retry on the next reconcile: "
            + ApplyCommand.listed(pending))
    }
}
