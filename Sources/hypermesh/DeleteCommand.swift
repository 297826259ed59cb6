import ArgumentParser
import HyperMeshCommands
import HyperMeshCore
import HyperMeshSpec

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete objects, after their controllers released what they hold.",
        discussion: """
            All or nothing: if any named object does not exist, nothing is deleted.

            Examples:
              hypermesh delete claim batch
              hypermesh delete -f specs/old-pool.yaml
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: KindArgument.help) var kind: KindArgument?
    @Argument(help: "The object's name.") var name: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("Delete the objects these specs name.", valueName: "PATH"))
    var filename: [String] = []

    func validate() throws {
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
        try workspace.store.requestDeletion(of: keys)
        let summary = try await workspace.reconcile(only: keys)
        let removed = Set(summary.removed)
        var pending: [String] = []
        for key in keys {
            if removed.contains(key) {
                Output.line("\(key.kind.shortName)/\(key.name) deleted")
            } else {
                pending.append("\(key) (\(summary.failed[key] ?? "cleanup pending"))")
            }
        }
        if !pending.isEmpty {
            throw CommandFailure(message: "deletion requested but not finished, will retry on the next reconcile: "
                + pending.joined(separator: ", "))
        }
    }
}
